//! Asynchronous invocations: Lambda's `Event` invocation type. An accepted event is a message in
//! the function's durable queue; a per-function dispatcher consumes it, runs the function, and
//! only then acks. Failures are retried with exponential backoff held by the queue, and events
//! that run out of retries or age end up in the function's dead-letter queue, from which they
//! can be redriven. The status of each event is kept for a bounded time.

mod accept;
mod attempt;
mod callback;
mod coalesce;
mod context;
mod dispatcher;
mod dlq;
mod event;
mod record;

use crate::callback_policy::CallbackPolicy;
use crate::error::InvokerError;
use crate::metrics::Metrics;
use crate::registry::Registry;
use crate::run::Runner;
use crate::tasks::StoppableTasks;
use bytes::Bytes;
use coalesce::Coalescer;
use context::Context;
use skiff_api::{now_ms, DeadLetter, DeadLetterPage, FunctionConfig, InvocationStatus, VersionRef};
use skiff_state::queue::{QueueBackend, SharedQueue};
use skiff_state::status::StatusStore;
use std::sync::Arc;
use std::time::Duration;

/// The callback deliverer's key among the dispatchers: no function has a dot in its name.
const CALLBACK_DELIVERER: &str = "skiff.callbacks";

/// The asynchronous side of functions. Cheap to clone.
#[derive(Clone)]
pub struct Events {
    inner: Arc<Context>,
}

/// What the asynchronous side takes from the server's options.
pub(crate) struct EventSettings {
    /// The region in the function ARNs of destination records.
    pub(crate) region: String,
    /// The server's concurrency limit: the size of the dispatcher of a function without
    /// reserved concurrency.
    pub(crate) max_concurrency: u32,
    /// The private addresses and host names callbacks may go to.
    pub(crate) callback_policy: CallbackPolicy,
}

impl Events {
    pub(crate) fn new(
        runner: Runner,
        registry: Arc<Registry>,
        queue: SharedQueue,
        status: Arc<StatusStore>,
        metrics: Arc<Metrics>,
        settings: EventSettings,
    ) -> Self {
        let EventSettings { region, max_concurrency, callback_policy } = settings;
        let callback_policy = Arc::new(callback_policy);
        let inner = Context {
            runner,
            registry,
            queue,
            status,
            coalescer: Coalescer::default(),
            dispatchers: StoppableTasks::default(),
            metrics,
            callback_policy: callback_policy.clone(),
            region,
            max_concurrency,
        };
        let events = Self { inner: Arc::new(inner) };
        events.spawn_status_expiry();
        events.deliver_callbacks();
        events
    }

    /// Starts (or resizes) the function's event dispatcher, sized by what the function could
    /// run at once: its reserved concurrency, else the server's limit.
    pub(crate) fn dispatch(&self, config: &FunctionConfig) {
        let limit = config.concurrency.unwrap_or(self.inner.max_concurrency).min(u32::from(u16::MAX)) as u16;
        dispatcher::ensure(&self.inner, &config.name, limit);
    }

    /// Stops the function's dispatcher: events running finish and are acked; the rest stay
    /// queued.
    pub(crate) fn stop_dispatching(&self, function: &str) {
        self.inner.dispatchers.stop(function);
    }

    /// Stops every dispatcher and waits for the events they are running.
    pub(crate) async fn stop_all(&self) {
        self.inner.dispatchers.stop_all().await;
    }

    /// Accepts an event for `function`: validated, then durable in the function's queue (the
    /// broker confirmed it, or the embedded queue fsync'd it), and only then is the request id
    /// returned. If the queue cannot take it, nothing was accepted and the error says so.
    pub async fn enqueue(&self, function: &str, version: VersionRef, payload: Bytes, callback_url: Option<String>) -> Result<String, InvokerError> {
        accept::enqueue(&self.inner, function, version, payload, callback_url).await
    }

    /// The status of an asynchronous invocation, while it is retained.
    pub async fn status(&self, request_id: &str) -> Result<InvocationStatus, InvokerError> {
        accept::status(&self.inner, request_id).await
    }

    /// Waits up to `limit` for the queue to be usable (the first broker connection), so a server
    /// that starts serving does not turn its first events away. False if it is not.
    pub async fn queue_ready(&self, limit: Duration) -> bool {
        self.inner.queue.wait_ready(limit).await
    }

    /// Which queue backs asynchronous invocations.
    pub fn queue_backend(&self) -> QueueBackend {
        self.inner.queue.backend()
    }

    pub async fn dead_letters(&self, function: &str, limit: usize) -> Result<DeadLetterPage, InvokerError> {
        dlq::list(&self.inner, function, limit).await
    }

    pub async fn dead_letter(&self, function: &str, id: &str) -> Result<DeadLetter, InvokerError> {
        dlq::get(&self.inner, function, id).await
    }

    /// Sends dead-lettered events (one, or all for `None`) back to the function with a fresh
    /// retry budget and age. Returns how many went back; an unknown id is `UnknownResource`.
    pub async fn redrive(&self, function: &str, id: Option<&str>) -> Result<u64, InvokerError> {
        dlq::redrive(&self.inner, function, id).await
    }

    /// Starts the callback deliverer; it stops with the dispatchers.
    fn deliver_callbacks(&self) {
        let ctx = &self.inner;
        let deliverer = callback::Deliverer { queue: ctx.queue.clone(), policy: ctx.callback_policy.clone(), metrics: ctx.metrics.clone() };
        ctx.dispatchers.start(CALLBACK_DELIVERER, 0, |_| true, move |stop| callback::start(deliverer, stop));
    }

    /// Drops expired invocation records once a minute, for as long as the events live.
    fn spawn_status_expiry(&self) {
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                if let Err(e) = inner.status.expire(now_ms()).await {
                    tracing::warn!("expiring invocation records: {e}");
                }
            }
        });
    }
}
