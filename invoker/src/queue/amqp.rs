//! RabbitMQ through lapin. One connection, remade in the background after any outage; one
//! publishing channel in confirm mode (a publish returns when the broker has confirmed it, i.e.
//! the persistent message is on disk in every replica of a quorum queue); one channel per
//! consumer, so prefetch is per consumer and a consumer's failure closes only its own channel.
//!
//! Topology (all durable): function queues `skiff.fn.<name>` are quorum queues; immediate
//! publishes go through the default exchange straight to the queue. Delays are held by the
//! broker: a delayed message goes to the topic exchange `skiff.delay` with routing key
//! `<bucket>.<key>`, into the delay queue `skiff.delay.<bucket>` (bucket: the delay rounded up to
//! a power of two in ms) with a per-message TTL; on expiry it is dead-lettered (at-least-once) to
//! the topic exchange `skiff.events`, where every Skiff-consumed queue is bound by `*.<key>`.
//! In one delay queue every message's TTL lies in (bucket/2, bucket], so a message waits behind
//! an earlier one by at most that spread.

use super::headers::{to_json, to_table};
use super::{Rewrite, Acker as AnyAcker, Delivery, Message, QueueError, QueueKind, QueueRef};
use futures_util::StreamExt;
use lapin::options::{
    BasicCancelOptions, BasicConsumeOptions, BasicGetOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::Confirmation;
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

pub(crate) const EVENTS_EXCHANGE: &str = "skiff.events";
pub(crate) const DELAY_EXCHANGE: &str = "skiff.delay";
/// A publish with no confirm by then is reported as failed (the caller sees 503, not 202).
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct AmqpBroker {
    inner: Arc<Inner>,
}

struct Inner {
    uri: String,
    link: watch::Sender<Option<Arc<Link>>>,
    closed: AtomicBool,
}

/// One live connection and what was declared on it.
struct Link {
    conn: Connection,
    publisher: Channel,
    declared: tokio::sync::Mutex<HashSet<QueueRef>>,
    delays: tokio::sync::Mutex<HashSet<u64>>,
}

type Result<T> = std::result::Result<T, QueueError>;

fn unavailable(e: impl std::fmt::Display) -> QueueError {
    QueueError::Unavailable(e.to_string())
}

impl AmqpBroker {
    pub(crate) fn start(uri: &str) -> Result<Self> {
        uri.parse::<lapin::uri::AMQPUri>()
            .map_err(|e| QueueError::Refused(format!("invalid AMQP URL {uri:?}: {e}")))?;
        let inner = Arc::new(Inner { uri: uri.to_string(), link: watch::channel(None).0, closed: AtomicBool::new(false) });
        tokio::spawn(supervise(inner.clone()));
        Ok(Self { inner })
    }

    fn link(&self) -> Result<Arc<Link>> {
        self.inner.link.borrow().clone().ok_or_else(|| unavailable("not connected to RabbitMQ"))
    }

    /// Waits until there is a connection (or the broker is closed: `None`).
    async fn wait_link(&self) -> Option<Arc<Link>> {
        let mut rx = self.inner.link.subscribe();
        loop {
            if self.inner.closed.load(Ordering::Acquire) {
                return None;
            }
            if let Some(link) = rx.borrow_and_update().clone() {
                return Some(link);
            }
            if rx.changed().await.is_err() {
                return None;
            }
        }
    }

    /// Waits up to `limit` for the first connection; false if there is none by then.
    pub(crate) async fn wait_connected(&self, limit: Duration) -> bool {
        tokio::time::timeout(limit, self.wait_link()).await.is_ok_and(|l| l.is_some())
    }

    pub(crate) async fn declare(&self, queue: &QueueRef) -> Result<()> {
        let link = self.link()?;
        link.ensure(queue).await
    }

    pub(crate) async fn publish(&self, queue: &QueueRef, message: &Message, delay: Option<Duration>) -> Result<()> {
        let link = self.link()?;
        link.ensure(queue).await?;
        let mut properties = BasicProperties::default()
            .with_delivery_mode(2)
            .with_message_id(message.id.as_str().into())
            .with_headers(to_table(&message.headers));
        let (exchange, routing_key) = match delay {
            None => (String::new(), queue.name.clone()),
            Some(delay) => {
                let ms = (delay.as_millis() as u64).max(1);
                let bucket = ms.next_power_of_two();
                link.ensure_delay(bucket).await?;
                properties = properties.with_expiration(ms.to_string().into());
                (DELAY_EXCHANGE.to_string(), format!("{bucket}.{}", queue.key))
            }
        };
        let confirm = tokio::time::timeout(CONFIRM_TIMEOUT, async {
            let options = BasicPublishOptions { mandatory: true, immediate: false };
            link.publisher
                .basic_publish(exchange.as_str().into(), routing_key.as_str().into(), options, &message.body, properties)
                .await?
                .await
        })
        .await;
        match confirm {
            Err(_) => Err(unavailable("no publisher confirm from RabbitMQ in time")),
            Ok(Err(e)) => {
                Link::check_publisher(&link);
                Err(unavailable(e))
            }
            Ok(Ok(Confirmation::Ack(None))) => Ok(()),
            Ok(Ok(Confirmation::Ack(Some(returned)))) => {
                Err(QueueError::Refused(format!("message returned: {}", returned.reply_text)))
            }
            Ok(Ok(Confirmation::Nack(_))) => Err(QueueError::Refused("RabbitMQ did not accept the message".into())),
            Ok(Ok(Confirmation::NotRequested)) => Err(QueueError::Refused("publisher confirms are off".into())),
        }
    }

    /// Feeds `tx` from `queue` until `tx` is closed, resubscribing after every outage. On stop
    /// it cancels the subscription, gives back what was prefetched but not handed out, and closes
    /// its channel only once every delivery handed out has been settled.
    pub(crate) async fn consume(self, queue: QueueRef, prefetch: u16, tx: mpsc::Sender<Delivery>) {
        let mut backoff = Duration::from_millis(100);
        loop {
            let Some(link) = (tokio::select! { l = self.wait_link() => l, () = tx.closed() => None }) else { return };
            match subscribe(&link, &queue, prefetch).await {
                Ok((channel, mut consumer)) => {
                    backoff = Duration::from_millis(100);
                    let out = Arc::new(AtomicUsize::new(0));
                    loop {
                        let item = tokio::select! { item = consumer.next() => item, () = tx.closed() => None };
                        match item {
                            Some(Ok(d)) => {
                                let delivery = from_amqp(d, out.clone());
                                if let Err(unsent) = tx.send(delivery).await {
                                    drop(unsent.0); // unsettled: returned when the channel closes
                                    break;
                                }
                            }
                            Some(Err(e)) => {
                                tracing::warn!(queue = %queue.name, "consumer interrupted: {e}");
                                break;
                            }
                            None => break,
                        }
                    }
                    if tx.is_closed() {
                        stop(channel, consumer, out).await;
                        return;
                    }
                }
                Err(e) => tracing::warn!(queue = %queue.name, "cannot consume: {e}"),
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    pub(crate) async fn browse(&self, queue: &QueueRef, limit: usize) -> Result<(Vec<Message>, u64)> {
        let link = self.link()?;
        link.ensure(queue).await?;
        let channel = link.conn.create_channel().await.map_err(unavailable)?;
        let mut out = Vec::new();
        let mut total = None;
        while out.len() < limit {
            let Some(got) = channel.basic_get(queue.name.as_str().into(), BasicGetOptions { no_ack: false }).await.map_err(unavailable)? else {
                break;
            };
            total.get_or_insert(u64::from(got.message_count) + 1);
            out.push(message_of(&got.delivery));
        }
        let total = match total {
            Some(t) => t,
            None => queue_depth(&channel, &queue.name).await?,
        };
        // Closing the channel returns every message we took, to its original place.
        let _ = channel.close(200, "browsed".into()).await;
        Ok((out, total))
    }

    pub(crate) async fn transfer(
        &self,
        from: &QueueRef,
        id: Option<&str>,
        to: &QueueRef,
        rewrite: Rewrite<'_>,
    ) -> Result<u64> {
        let link = self.link()?;
        link.ensure(from).await?;
        let channel = link.conn.create_channel().await.map_err(unavailable)?;
        let depth = queue_depth(&channel, &from.name).await?;
        let mut moved = 0;
        // Bounded by the depth seen at the start: messages skipped stay unacked on this channel
        // until it closes, so each is looked at once.
        for _ in 0..depth {
            let Some(got) = channel.basic_get(from.name.as_str().into(), BasicGetOptions { no_ack: false }).await.map_err(unavailable)? else {
                break;
            };
            let message = message_of(&got.delivery);
            if id.is_some_and(|id| id != message.id) {
                continue;
            }
            self.publish(to, &rewrite(message), None).await?;
            got.delivery.acker.ack(Default::default()).await.map_err(unavailable)?;
            moved += 1;
            if id.is_some() {
                break;
            }
        }
        let _ = channel.close(200, "transferred".into()).await;
        Ok(moved)
    }

    pub(crate) async fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        if let Some(link) = self.inner.link.send_replace(None) {
            let _ = link.conn.close(200, "skiff shutting down".into()).await;
        }
    }
}

/// Keeps a connection up: connects with backoff, publishes it, waits for it to fail, repeats.
async fn supervise(inner: Arc<Inner>) {
    let mut backoff = Duration::from_millis(100);
    while !inner.closed.load(Ordering::Acquire) {
        match tokio::time::timeout(CONNECT_TIMEOUT, connect(&inner.uri)).await {
            Ok(Ok(link)) => {
                backoff = Duration::from_millis(100);
                let link = Arc::new(link);
                let mut events = link.conn.events_listener();
                inner.link.send_replace(Some(link.clone()));
                tracing::info!("connected to RabbitMQ");
                let mut poll = tokio::time::interval(Duration::from_secs(1));
                loop {
                    tokio::select! {
                        event = events.next() => match event {
                            // Channel errors (a refused declaration) arrive here too; only a
                            // connection that is no longer up ends this link.
                            Some(lapin::Event::Error(e)) if !link.conn.status().connected() => {
                                tracing::warn!("RabbitMQ connection lost: {e}");
                                break;
                            }
                            Some(lapin::Event::Error(e)) => tracing::debug!("RabbitMQ error: {e}"),
                            None => break,
                            Some(_) => {}
                        },
                        _ = poll.tick() => if !link.conn.status().connected() || inner.closed.load(Ordering::Acquire) { break },
                    }
                }
                // Only clear the link if it is still ours (close() may have taken it).
                inner.link.send_if_modified(|current| match current {
                    Some(l) if Arc::ptr_eq(l, &link) => {
                        *current = None;
                        true
                    }
                    _ => false,
                });
            }
            Ok(Err(e)) => tracing::warn!("cannot connect to RabbitMQ: {e}"),
            Err(_) => tracing::warn!("cannot connect to RabbitMQ: timed out"),
        }
        if inner.closed.load(Ordering::Acquire) {
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

async fn connect(uri: &str) -> Result<Link> {
    let properties = ConnectionProperties::default().with_connection_name("skiff".into());
    let conn = Connection::connect(uri, properties).await.map_err(unavailable)?;
    let publisher = conn.create_channel().await.map_err(unavailable)?;
    let durable = ExchangeDeclareOptions { durable: true, ..Default::default() };
    for exchange in [EVENTS_EXCHANGE, DELAY_EXCHANGE] {
        publisher
            .exchange_declare(exchange.into(), ExchangeKind::Topic, durable, FieldTable::default())
            .await
            .map_err(unavailable)?;
    }
    publisher.confirm_select(ConfirmSelectOptions::default()).await.map_err(unavailable)?;
    Ok(Link {
        conn,
        publisher,
        declared: tokio::sync::Mutex::new(HashSet::new()),
        delays: tokio::sync::Mutex::new(HashSet::new()),
    })
}

impl Link {
    /// A publishing channel the broker closed (it should not happen: only the default and
    /// Skiff's own exchanges are used) would fail every publish; close the connection so the
    /// supervisor makes a fresh one.
    fn check_publisher(link: &Arc<Link>) {
        if link.conn.status().connected() && !link.publisher.status().connected() {
            tracing::warn!("publishing channel closed; reconnecting");
            let link = link.clone();
            tokio::spawn(async move { link.conn.close(320, "reconnecting".into()).await });
        }
    }

    /// Declares `queue` once per connection, on a channel of its own: a refused declaration
    /// (a user queue with other arguments, a missing exchange) closes that channel only.
    async fn ensure(&self, queue: &QueueRef) -> Result<()> {
        let mut declared = self.declared.lock().await;
        if declared.contains(queue) {
            return Ok(());
        }
        let channel = self.conn.create_channel().await.map_err(unavailable)?;
        let durable = QueueDeclareOptions { durable: true, ..Default::default() };
        let name = queue.name.as_str();
        let refused = |what: &str, e: lapin::Error| QueueError::Refused(format!("{what}: {e}"));
        let channel = match &queue.kind {
            QueueKind::Work => {
                let args = table(&[("x-queue-type", AMQPValue::LongString("quorum".into()))]);
                channel.queue_declare(name.into(), durable, args).await.map_err(|e| refused(name, e))?;
                channel
            }
            QueueKind::DeadLetter => {
                channel.queue_declare(name.into(), durable, FieldTable::default()).await.map_err(|e| refused(name, e))?;
                channel
            }
            QueueKind::External { bind } => {
                let passive = QueueDeclareOptions { passive: true, ..Default::default() };
                let channel = if channel.queue_declare(name.into(), passive, FieldTable::default()).await.is_ok() {
                    channel
                } else {
                    // Not there (the failed passive declare closed that channel): create it.
                    let fresh = self.conn.create_channel().await.map_err(unavailable)?;
                    fresh.queue_declare(name.into(), durable, FieldTable::default()).await.map_err(|e| refused(name, e))?;
                    fresh
                };
                if let Some((exchange, key)) = bind {
                    channel
                        .queue_bind(name.into(), exchange.as_str().into(), key.as_str().into(), QueueBindOptions::default(), FieldTable::default())
                        .await
                        .map_err(|e| refused(&format!("binding {name} to exchange {exchange:?}"), e))?;
                }
                channel
            }
        };
        self.bind_for_delays(&channel, queue).await?;
        let _ = channel.close(200, "declared".into()).await;
        declared.insert(queue.clone());
        Ok(())
    }

    async fn bind_for_delays(&self, channel: &Channel, queue: &QueueRef) -> Result<()> {
        let key = format!("*.{}", queue.key);
        channel
            .queue_bind(queue.name.as_str().into(), EVENTS_EXCHANGE.into(), key.as_str().into(), QueueBindOptions::default(), FieldTable::default())
            .await
            .map_err(unavailable)
    }

    async fn ensure_delay(&self, bucket: u64) -> Result<()> {
        let mut delays = self.delays.lock().await;
        if delays.contains(&bucket) {
            return Ok(());
        }
        let channel = self.conn.create_channel().await.map_err(unavailable)?;
        let name = format!("skiff.delay.{bucket}");
        let args = table(&[
            ("x-queue-type", AMQPValue::LongString("quorum".into())),
            ("x-dead-letter-exchange", AMQPValue::LongString(EVENTS_EXCHANGE.into())),
            ("x-dead-letter-strategy", AMQPValue::LongString("at-least-once".into())),
            ("x-overflow", AMQPValue::LongString("reject-publish".into())),
        ]);
        let durable = QueueDeclareOptions { durable: true, ..Default::default() };
        channel.queue_declare(name.as_str().into(), durable, args).await.map_err(|e| QueueError::Refused(format!("{name}: {e}")))?;
        let key = format!("{bucket}.#");
        channel
            .queue_bind(name.as_str().into(), DELAY_EXCHANGE.into(), key.as_str().into(), QueueBindOptions::default(), FieldTable::default())
            .await
            .map_err(unavailable)?;
        let _ = channel.close(200, "declared".into()).await;
        delays.insert(bucket);
        Ok(())
    }
}

fn table(entries: &[(&str, AMQPValue)]) -> FieldTable {
    let mut t = FieldTable::default();
    for (k, v) in entries {
        t.insert((*k).into(), v.clone());
    }
    t
}

async fn subscribe(link: &Link, queue: &QueueRef, prefetch: u16) -> Result<(Channel, lapin::Consumer)> {
    link.ensure(queue).await?;
    let channel = link.conn.create_channel().await.map_err(unavailable)?;
    channel.basic_qos(prefetch, BasicQosOptions::default()).await.map_err(unavailable)?;
    let consumer = channel
        .basic_consume(queue.name.as_str().into(), "".into(), BasicConsumeOptions::default(), FieldTable::default())
        .await
        .map_err(unavailable)?;
    Ok((channel, consumer))
}

/// Ends a subscription without losing or double-running anything: no new deliveries, the
/// prefetched ones back to the queue, and the channel kept until every handed-out delivery is
/// settled (its ack needs this channel).
async fn stop(channel: Channel, mut consumer: lapin::Consumer, out: Arc<AtomicUsize>) {
    let _ = channel.basic_cancel(consumer.tag(), BasicCancelOptions::default()).await;
    while let Ok(Some(Ok(d))) = tokio::time::timeout(Duration::from_millis(200), consumer.next()).await {
        let _ = d.acker.nack(BasicNackOptions { requeue: true, multiple: false }).await;
    }
    tokio::spawn(async move {
        while out.load(Ordering::Acquire) > 0 && channel.status().connected() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = channel.close(200, "consumer stopped".into()).await;
    });
}

async fn queue_depth(channel: &Channel, name: &str) -> Result<u64> {
    let passive = QueueDeclareOptions { passive: true, ..Default::default() };
    let queue = channel.queue_declare(name.into(), passive, FieldTable::default()).await.map_err(unavailable)?;
    Ok(queue.message_count().into())
}

fn message_of(d: &lapin::message::Delivery) -> Message {
    let p = &d.properties;
    Message {
        id: p.message_id().as_ref().map(|s| s.as_str().to_string()).unwrap_or_default(),
        headers: p.headers().as_ref().map(to_json).unwrap_or_default(),
        body: bytes::Bytes::copy_from_slice(&d.data),
    }
}

/// Counts a delivery as out until it is settled or dropped.
pub(crate) struct Out(Arc<AtomicUsize>);

impl Drop for Out {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn from_amqp(d: lapin::message::Delivery, out: Arc<AtomicUsize>) -> Delivery {
    out.fetch_add(1, Ordering::AcqRel);
    Delivery {
        message: message_of(&d),
        redelivered: d.redelivered,
        exchange: d.exchange.as_str().to_string(),
        routing_key: d.routing_key.as_str().to_string(),
        acker: AnyAcker::Amqp(d.acker, Out(out)),
    }
}
