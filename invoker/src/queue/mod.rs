//! The durable message queue under async invocations and triggers: RabbitMQ when a broker URL is
//! configured, otherwise an embedded queue on disk in the data dir. Both give the same contract,
//! which is all the layers above rely on:
//!
//! - `publish` returns only once the message is durable (publisher confirm / fsync'd commit);
//! - a delivery stays owned by its consumer until `ack` (removed) or `requeue`; a consumer that
//!   goes away — shutdown, crash, lost connection — leaves unacked messages to be delivered
//!   again (at least once);
//! - delayed publishes are held by the queue itself, never in this process's memory.

mod amqp;
mod embedded;
mod group_commit;
mod headers;

pub(crate) use group_commit::GroupCommit;

use bytes::Bytes;
use serde_json::{Map, Value};
use std::path::Path;
use std::time::Duration;
use tokio::sync::mpsc;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The broker cannot be reached now; nothing was stored.
    #[error("the message broker is unavailable: {0}")]
    Unavailable(String),
    /// The broker refused the message or the operation.
    #[error("the message broker refused the operation: {0}")]
    Refused(String),
    #[error("queue storage failure: {0}")]
    Storage(String),
}

/// A message as Skiff stores it: an id, headers (AMQP headers as JSON) and the raw body.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub id: String,
    pub headers: Map<String, Value>,
    pub body: Bytes,
}

/// What a queue holds, which decides how RabbitMQ stores it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum QueueKind {
    /// Skiff's own work queue (a function's events): a quorum queue, replicated and fsync'd.
    Work,
    /// A dead-letter queue: a classic durable queue, because it is browsed (get, then requeue
    /// in place) and quorum queues count each browse as a delivery.
    DeadLetter,
    /// A queue users own (a trigger's source, a destination): declared durable if missing,
    /// otherwise used as it is, and optionally bound to the user's exchange.
    External { bind: Option<(String, String)> },
}

/// A queue by its broker name, plus the routing key that brings delayed messages back to it
/// (`<delay>.<key>` through Skiff's delay exchange).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QueueRef {
    pub(crate) name: String,
    pub(crate) key: String,
    pub(crate) kind: QueueKind,
}

impl QueueRef {
    pub fn function(function: &str) -> Self {
        Self { name: format!("skiff.fn.{function}"), key: format!("fn.{function}"), kind: QueueKind::Work }
    }

    pub fn function_dlq(function: &str) -> Self {
        let key = format!("dlq.fn.{function}");
        Self { name: format!("skiff.{key}"), key, kind: QueueKind::DeadLetter }
    }

    pub fn trigger_source(trigger: &str, queue: &str, bind: Option<(String, String)>) -> Self {
        Self { name: queue.to_string(), key: format!("trigger.{trigger}"), kind: QueueKind::External { bind } }
    }

    pub fn trigger_dlq(trigger: &str) -> Self {
        let key = format!("dlq.trigger.{trigger}");
        Self { name: format!("skiff.{key}"), key, kind: QueueKind::DeadLetter }
    }

    /// A user's queue that receives destination records.
    pub fn destination(queue: &str) -> Self {
        Self { name: queue.to_string(), key: format!("queue.{queue}"), kind: QueueKind::External { bind: None } }
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

/// One message handed to a consumer, owned by it until acked or requeued.
pub struct Delivery {
    pub message: Message,
    pub redelivered: bool,
    pub exchange: String,
    pub routing_key: String,
    acker: Acker,
}

enum Acker {
    Amqp(lapin::Acker, amqp::Out),
    Embedded(embedded::Acker),
}

impl Delivery {
    /// Removes the message for good. Fails when its channel is gone, in which case the broker
    /// delivers it again.
    pub async fn ack(self) -> Result<(), QueueError> {
        match self.acker {
            Acker::Amqp(a, _out) => a
                .ack(lapin::options::BasicAckOptions::default())
                .await
                .map(|_| ())
                .map_err(|e| QueueError::Unavailable(e.to_string())),
            Acker::Embedded(a) => a.ack().await,
        }
    }

    /// Gives the message back to the queue, to be delivered again.
    pub async fn requeue(self) {
        match self.acker {
            Acker::Amqp(a, _out) => {
                let options = lapin::options::BasicNackOptions { requeue: true, multiple: false };
                let _ = a.nack(options).await;
            }
            Acker::Embedded(a) => a.requeue(),
        }
    }
}

/// A stream of deliveries from one queue that survives broker outages (it resubscribes).
/// Dropping it stops the subscription: nothing more is taken, and deliveries already handed out
/// can still be settled.
pub struct Consumer {
    rx: mpsc::Receiver<Delivery>,
}

impl Consumer {
    pub async fn next(&mut self) -> Option<Delivery> {
        self.rx.recv().await
    }
}

/// How a message is changed on its way from one queue to another (a redrive resets counters).
pub type Rewrite<'a> = &'a (dyn Fn(Message) -> Message + Send + Sync);

/// Checks a queue (or exchange) name a user gives Skiff to consume from or publish to, as a
/// trigger's source or a destination, by one rule so that any queue a destination can feed, a
/// trigger can read: 1 to 200 printable ASCII characters, outside Skiff's own `skiff.` names,
/// and for queues outside the broker's reserved `amq.` ones (exchanges such as `amq.topic` are
/// fine to bind to).
pub(crate) fn check_user_name(what: &str, name: &str) -> Result<(), String> {
    if !(1..=200).contains(&name.len()) || !name.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!("invalid {what} {name:?}: 1 to 200 printable characters"));
    }
    if name.starts_with("skiff.") || (name.starts_with("amq.") && what == "queue") {
        return Err(format!("{what} {name:?} is reserved"));
    }
    Ok(())
}

/// The queue backend in use.
#[derive(Clone)]
pub enum Broker {
    Amqp(amqp::AmqpBroker),
    Embedded(embedded::EmbeddedBroker),
}

impl Broker {
    /// RabbitMQ at `url`. The URL is checked now; the connection is made (and remade after any
    /// outage) in the background, and operations fail with `Unavailable` while there is none.
    pub fn rabbitmq(url: &str) -> Result<Self, QueueError> {
        amqp::AmqpBroker::start(url).map(Broker::Amqp)
    }

    /// The embedded queue in `dir`.
    pub fn embedded(dir: &Path) -> Result<Self, QueueError> {
        embedded::EmbeddedBroker::open(dir).map(Broker::Embedded)
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Broker::Amqp(_) => "rabbitmq",
            Broker::Embedded(_) => "embedded",
        }
    }

    /// Stores `message` in `queue` (after `delay`, if given) and returns once it is durable.
    pub async fn publish(&self, queue: &QueueRef, message: &Message, delay: Option<Duration>) -> Result<(), QueueError> {
        match self {
            Broker::Amqp(b) => b.publish(queue, message, delay).await,
            Broker::Embedded(b) => b.publish(queue, message, delay).await,
        }
    }

    /// Consumes `queue` with at most `prefetch` unacked deliveries at a time.
    pub fn consume(&self, queue: QueueRef, prefetch: u16) -> Consumer {
        let (tx, rx) = mpsc::channel(1);
        match self {
            Broker::Amqp(b) => tokio::spawn(b.clone().consume(queue, prefetch.max(1), tx)),
            Broker::Embedded(b) => tokio::spawn(b.clone().consume(queue, prefetch.max(1), tx)),
        };
        Consumer { rx }
    }

    /// Makes sure `queue` exists (and is bound), so messages published to it are kept even
    /// before anyone consumes.
    pub async fn declare(&self, queue: &QueueRef) -> Result<(), QueueError> {
        match self {
            Broker::Amqp(b) => b.declare(queue).await,
            Broker::Embedded(_) => Ok(()),
        }
    }

    /// The first `limit` messages of `queue`, left in place, and how many it holds in all.
    pub async fn browse(&self, queue: &QueueRef, limit: usize) -> Result<(Vec<Message>, u64), QueueError> {
        match self {
            Broker::Amqp(b) => b.browse(queue, limit).await,
            Broker::Embedded(b) => b.browse(queue, limit).await,
        }
    }

    /// Moves the message `id` (or every message, for `None`) from `from` to `to`, rewritten by
    /// `rewrite`. Each message is durable in `to` before it leaves `from`, so a crash midway
    /// can duplicate a message but never lose one. Returns how many moved.
    pub async fn transfer(
        &self,
        from: &QueueRef,
        id: Option<&str>,
        to: &QueueRef,
        rewrite: Rewrite<'_>,
    ) -> Result<u64, QueueError> {
        match self {
            Broker::Amqp(b) => b.transfer(from, id, to, rewrite).await,
            Broker::Embedded(b) => b.transfer(from, id, to, rewrite).await,
        }
    }

    /// Waits up to `limit` for the broker connection (the embedded queue is always ready).
    pub async fn wait_ready(&self, limit: Duration) -> bool {
        match self {
            Broker::Amqp(b) => b.wait_connected(limit).await,
            Broker::Embedded(_) => true,
        }
    }

    /// Closes the connection: whatever is still unacked goes back to its queue.
    pub async fn close(&self) {
        match self {
            Broker::Amqp(b) => b.close().await,
            Broker::Embedded(b) => b.close(),
        }
    }
}
