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
mod headers;
mod signed;

pub use amqp::AmqpQueue;
pub use embedded::EmbeddedQueue;
pub use signed::signed;

use crate::StoreError;
use async_trait::async_trait;
use bytes::Bytes;
use serde_json::{Map, Value};
use skiff_api::error::{ErrorKind, Kinded};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

#[derive(Debug, Clone, thiserror::Error)]
pub enum QueueError {
    /// The broker cannot be reached now; nothing was stored.
    #[error("the message broker is unavailable: {0}")]
    Unavailable(String),
    /// The broker refused the message or the operation.
    #[error("the message broker refused the operation: {0}")]
    Refused(String),
    /// The broker refused a queue or binding the caller named, because of what the caller
    /// named: an exchange that does not exist, a queue that exists with other arguments.
    #[error("the message broker refused it: {0}")]
    Mismatch(String),
    /// The embedded queue's storage failed (shared: one failed publish answers every event
    /// coalesced into it).
    #[error("queue storage failure: {0}")]
    Storage(#[source] Arc<StoreError>),
}

impl From<StoreError> for QueueError {
    fn from(e: StoreError) -> Self {
        QueueError::Storage(Arc::new(e))
    }
}

impl QueueError {
    /// Whether the embedded queue's file cannot be written now (logged by the file itself).
    pub fn is_unwritable(&self) -> bool {
        matches!(self, QueueError::Storage(e) if matches!(**e, StoreError::Unwritable { .. }))
    }
}

impl Kinded for QueueError {
    fn kind(&self) -> ErrorKind {
        match self {
            QueueError::Unavailable(_) => ErrorKind::Unavailable,
            QueueError::Storage(e) => e.kind(),
            QueueError::Refused(_) => ErrorKind::Internal,
            QueueError::Mismatch(_) => ErrorKind::Invalid,
        }
    }
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
    /// The callbacks waiting to be sent (see the invoker's `events::callback`).
    pub fn callbacks() -> Self {
        Self { name: "skiff.callbacks".into(), key: "callbacks".into(), kind: QueueKind::Work }
    }

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
    /// Runs of this message that started before and never settled: cut off by a crash or a
    /// broker outage. The embedded queue counts starts durably ([`Delivery::started`]), so this
    /// is exact; RabbitMQ's quorum queues count deliveries (`x-delivery-count`), which also
    /// counts a message that was prefetched and not yet started when its consumer went away.
    pub earlier_runs: u32,
    pub exchange: String,
    pub routing_key: String,
    /// Whether Skiff itself put the message there (see [`signed`]); true for every message of a
    /// queue that is not checked.
    pub authentic: bool,
    settle: Box<dyn Settle>,
}

/// How a backend settles one of its deliveries.
#[async_trait]
trait Settle: Send + Sync {
    async fn ack(self: Box<Self>) -> Result<(), QueueError>;
    async fn requeue(self: Box<Self>);
    /// Records durably that a run of the message starts; once per delivery.
    async fn started(&self) -> Result<(), QueueError> {
        Ok(())
    }
}

impl Delivery {
    /// Whether a run of this message started before.
    pub fn redelivered(&self) -> bool {
        self.earlier_runs > 0
    }

    /// Says a run of the message starts, before it does: a crash from here on leaves the
    /// message with one more `earlier_runs`. Calls after the first are free.
    pub async fn started(&self) -> Result<(), QueueError> {
        self.settle.started().await
    }

    /// Removes the message for good. Fails when its channel is gone, in which case the broker
    /// delivers it again.
    pub async fn ack(self) -> Result<(), QueueError> {
        self.settle.ack().await
    }

    /// Gives the message back to the queue, to be delivered again.
    pub async fn requeue(self) {
        self.settle.requeue().await
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

/// The first messages of a queue, left in place, and how many it holds in all.
pub struct Browsed {
    pub messages: Vec<Message>,
    pub total: u64,
}

/// Which backend a queue is, for logs and the records' `eventSource`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueBackend {
    RabbitMq,
    Embedded,
}

impl QueueBackend {
    pub fn as_str(self) -> &'static str {
        match self {
            QueueBackend::RabbitMq => "rabbitmq",
            QueueBackend::Embedded => "embedded",
        }
    }
}

/// The durable queue port. Both adapters give the contract in the module doc.
#[async_trait]
pub trait Queue: Send + Sync {
    fn backend(&self) -> QueueBackend;

    /// Whether a queue can be bound to a user's exchange (a capability of RabbitMQ only).
    fn supports_bindings(&self) -> bool;

    /// Stores `message` in `queue` (after `delay`, if given) and returns once it is durable.
    async fn publish(&self, queue: &QueueRef, message: &Message, delay: Option<Duration>) -> Result<(), QueueError>;

    /// Consumes `queue` with at most `prefetch` unacked deliveries at a time.
    fn consume(&self, queue: QueueRef, prefetch: u16) -> Consumer;

    /// Makes sure `queue` exists (and is bound), so messages published to it are kept even
    /// before anyone consumes.
    async fn declare(&self, queue: &QueueRef) -> Result<(), QueueError>;

    /// The first `limit` messages of `queue`, left in place, and how many it holds in all.
    async fn browse(&self, queue: &QueueRef, limit: usize) -> Result<Browsed, QueueError>;

    /// Moves the message `id` (or every message, for `None`) from `from` to `to`, rewritten by
    /// `rewrite`. Each message is durable in `to` before it leaves `from`, so a crash midway
    /// can duplicate a message but never lose one. Returns how many moved.
    async fn transfer(&self, from: &QueueRef, id: Option<&str>, to: &QueueRef, rewrite: Rewrite<'_>) -> Result<u64, QueueError>;

    /// Waits up to `limit` for the broker connection (the embedded queue is always ready).
    async fn wait_ready(&self, limit: Duration) -> bool;

    /// Closes the connection: whatever is still unacked goes back to its queue.
    async fn close(&self);
}

/// The queue in use, shared by everyone who publishes or consumes.
pub type SharedQueue = Arc<dyn Queue>;

/// RabbitMQ at `url`, Skiff's queues and exchanges under `namespace` (the id of one server or
/// cluster: see `amqp::names`). The URL is checked now; the connection is made (and remade
/// after any outage) in the background, and operations fail with `Unavailable` while there is
/// none.
pub fn rabbitmq(url: &str, namespace: &str) -> Result<SharedQueue, QueueError> {
    Ok(Arc::new(AmqpQueue::start(url, amqp::Namespace::new(namespace)?)?))
}

/// The embedded queue in `dir`.
pub fn embedded(dir: &Path) -> Result<SharedQueue, QueueError> {
    Ok(Arc::new(EmbeddedQueue::open(dir)?))
}

/// A consumer fed by `feed`, which runs until the consumer is dropped.
fn spawn_consumer<F, Fut>(feed: F) -> Consumer
where
    F: FnOnce(mpsc::Sender<Delivery>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(feed(tx));
    Consumer { rx }
}
