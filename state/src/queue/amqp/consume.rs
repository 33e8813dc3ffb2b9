//! Consuming one queue: a subscription per consumer on its own channel, remade after every
//! outage, stopped without losing or double-running a delivery.

use super::link::{unavailable, Connector, Link, Result, MAX_BACKOFF};
use crate::queue::headers::to_json;
use crate::queue::{Delivery, Message, QueueError, QueueRef, Settle};
use async_trait::async_trait;
use futures_util::StreamExt;
use lapin::options::{BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions};
use lapin::types::FieldTable;
use lapin::Channel;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Feeds `tx` from `queue` until `tx` is closed, resubscribing after every outage. On stop
/// it cancels the subscription, gives back what was prefetched but not handed out, and closes
/// its channel only once every delivery handed out has been settled.
pub(super) async fn feed(connector: Arc<Connector>, queue: QueueRef, prefetch: u16, tx: mpsc::Sender<Delivery>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let Some(link) = (tokio::select! { l = connector.wait_link() => l, () = tx.closed() => None }) else {
            return;
        };
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

async fn subscribe(link: &Link, queue: &QueueRef, prefetch: u16) -> Result<(Channel, lapin::Consumer)> {
    link.ensure(queue).await?;
    let channel = link.conn.create_channel().await.map_err(unavailable)?;
    channel.basic_qos(prefetch, BasicQosOptions::default()).await.map_err(unavailable)?;
    let consumer =
        channel.basic_consume(queue.name.as_str().into(), "".into(), BasicConsumeOptions::default(), FieldTable::default()).await.map_err(unavailable)?;
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

pub(super) fn message_of(d: &lapin::message::Delivery) -> Message {
    let p = &d.properties;
    Message {
        id: p.message_id().as_ref().map(|s| s.as_str().to_string()).unwrap_or_default(),
        headers: p.headers().as_ref().map(to_json).unwrap_or_default(),
        body: bytes::Bytes::copy_from_slice(&d.data),
    }
}

/// Counts a delivery as out until it is settled or dropped.
struct Out(Arc<AtomicUsize>);

/// Settles through the delivery's own channel; the count keeps that channel open meanwhile.
struct AmqpSettle {
    acker: lapin::Acker,
    _out: Out,
}

#[async_trait]
impl Settle for AmqpSettle {
    async fn ack(self: Box<Self>) -> Result<()> {
        self.acker.ack(lapin::options::BasicAckOptions::default()).await.map(|_| ()).map_err(|e| QueueError::Unavailable(e.to_string()))
    }

    async fn requeue(self: Box<Self>) {
        let options = BasicNackOptions { requeue: true, multiple: false };
        let _ = self.acker.nack(options).await;
    }
}

impl Drop for Out {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn from_amqp(d: lapin::message::Delivery, out: Arc<AtomicUsize>) -> Delivery {
    out.fetch_add(1, Ordering::AcqRel);
    let message = message_of(&d);
    // Quorum queues count returned deliveries; a classic queue only says whether there was one.
    let counted = message.headers.get("x-delivery-count").and_then(serde_json::Value::as_u64);
    Delivery {
        earlier_runs: counted.map_or(u32::from(d.redelivered), |n| n.min(u64::from(u32::MAX)) as u32),
        message,
        exchange: d.exchange.as_str().to_string(),
        routing_key: d.routing_key.as_str().to_string(),
        authentic: true,
        settle: Box::new(AmqpSettle { acker: d.acker, _out: Out(out) }),
    }
}
