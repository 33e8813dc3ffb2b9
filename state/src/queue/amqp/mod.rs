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

mod consume;
mod link;
mod names;

use super::headers::to_table;
use super::{Browsed, Consumer, Message, Queue, QueueBackend, QueueError, QueueRef, Rewrite};
use async_trait::async_trait;
use consume::message_of;
use lapin::options::{BasicGetOptions, BasicPublishOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Confirmation};
use link::{unavailable, Connector, Link, Result};
pub(crate) use names::Namespace;
use std::sync::Arc;
use std::time::Duration;

/// A publish with no confirm by then is reported as failed (the caller sees 503, not 202).
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct AmqpQueue {
    connector: Arc<Connector>,
}

impl AmqpQueue {
    pub(crate) fn start(uri: &str, names: Namespace) -> Result<Self> {
        Ok(Self { connector: Connector::start(uri, names)? })
    }

    /// `queue` as it is named on the broker.
    fn named(&self, queue: &QueueRef) -> QueueRef {
        self.connector.names.queue(queue)
    }

    fn link(&self) -> Result<Arc<Link>> {
        self.connector.link()
    }

    async fn declare_queue(&self, queue: &QueueRef) -> Result<()> {
        let link = self.link()?;
        link.ensure(queue).await
    }

    async fn publish_message(&self, queue: &QueueRef, message: &Message, delay: Option<Duration>) -> Result<()> {
        let link = self.link()?;
        link.ensure(queue).await?;
        let mut properties =
            BasicProperties::default().with_delivery_mode(2).with_message_id(message.id.as_str().into()).with_headers(to_table(&message.headers));
        let (exchange, routing_key) = match delay {
            None => (String::new(), queue.name.clone()),
            Some(delay) => {
                let ms = (delay.as_millis() as u64).max(1);
                let bucket = ms.next_power_of_two();
                link.ensure_delay(bucket).await?;
                properties = properties.with_expiration(ms.to_string().into());
                (self.connector.names.delay_exchange(), format!("{bucket}.{}", queue.key))
            }
        };
        let confirm = tokio::time::timeout(CONFIRM_TIMEOUT, async {
            let options = BasicPublishOptions { mandatory: true, immediate: false };
            link.publisher.basic_publish(exchange.as_str().into(), routing_key.as_str().into(), options, &message.body, properties).await?.await
        })
        .await;
        match confirm {
            Err(_) => Err(unavailable("no publisher confirm from RabbitMQ in time")),
            Ok(Err(e)) => {
                Link::check_publisher(&link);
                Err(unavailable(e))
            }
            Ok(Ok(Confirmation::Ack(None))) => Ok(()),
            Ok(Ok(Confirmation::Ack(Some(returned)))) => Err(QueueError::Refused(format!("message returned: {}", returned.reply_text))),
            Ok(Ok(Confirmation::Nack(_))) => Err(QueueError::Refused("RabbitMQ did not accept the message".into())),
            Ok(Ok(Confirmation::NotRequested)) => Err(QueueError::Refused("publisher confirms are off".into())),
        }
    }

    async fn browse_queue(&self, queue: &QueueRef, limit: usize) -> Result<Browsed> {
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
        Ok(Browsed { messages: out, total })
    }

    async fn transfer_messages(&self, from: &QueueRef, id: Option<&str>, to: &QueueRef, rewrite: Rewrite<'_>) -> Result<u64> {
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
            self.publish_message(to, &rewrite(message), None).await?;
            got.delivery.acker.ack(Default::default()).await.map_err(unavailable)?;
            moved += 1;
            if id.is_some() {
                break;
            }
        }
        let _ = channel.close(200, "transferred".into()).await;
        Ok(moved)
    }
}

async fn queue_depth(channel: &Channel, name: &str) -> Result<u64> {
    let passive = QueueDeclareOptions { passive: true, ..Default::default() };
    let queue = channel.queue_declare(name.into(), passive, FieldTable::default()).await.map_err(unavailable)?;
    Ok(queue.message_count().into())
}

#[async_trait]
impl Queue for AmqpQueue {
    fn backend(&self) -> QueueBackend {
        QueueBackend::RabbitMq
    }

    fn supports_bindings(&self) -> bool {
        true
    }

    async fn publish(&self, queue: &QueueRef, message: &Message, delay: Option<Duration>) -> Result<()> {
        self.publish_message(&self.named(queue), message, delay).await
    }

    fn consume(&self, queue: QueueRef, prefetch: u16) -> Consumer {
        let connector = self.connector.clone();
        let queue = self.named(&queue);
        super::spawn_consumer(move |tx| consume::feed(connector, queue, prefetch.max(1), tx))
    }

    async fn declare(&self, queue: &QueueRef) -> Result<()> {
        self.declare_queue(&self.named(queue)).await
    }

    async fn browse(&self, queue: &QueueRef, limit: usize) -> Result<Browsed> {
        self.browse_queue(&self.named(queue), limit).await
    }

    async fn transfer(&self, from: &QueueRef, id: Option<&str>, to: &QueueRef, rewrite: Rewrite<'_>) -> Result<u64> {
        self.transfer_messages(&self.named(from), id, &self.named(to), rewrite).await
    }

    async fn wait_ready(&self, limit: Duration) -> bool {
        self.connector.wait_connected(limit).await
    }

    async fn close(&self) {
        self.connector.shutdown().await
    }
}
