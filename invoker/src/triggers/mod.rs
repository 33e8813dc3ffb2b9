//! Queue triggers, like Lambda's event source mappings: a queue's messages are delivered to a
//! function in batches as `{"Records": [...]}`. Definitions live in the config store; the feed
//! starts and stops consumers from its watch, so they resume after a restart.

mod batch;
mod consumer;
mod context;

use crate::applied::Applied;
use crate::dead_letters;
use crate::error::InvokerError;
use crate::metrics::Metrics;
use crate::registry::Registry;
use crate::run::Runner;
use consumer::Consumers;
use context::{dlq, source, Context};
use skiff_api::{DeadLetter, DeadLetterPage, TriggerConfig, TriggerRequest};
use skiff_state::config::{Expect, Typed};
use skiff_state::queue::{Message, SharedQueue};
use std::sync::Arc;

/// The triggers. Cheap to clone.
#[derive(Clone)]
pub struct Triggers {
    ctx: Arc<Context>,
    definitions: Typed<TriggerConfig>,
    registry: Arc<Registry>,
    consumers: Arc<Consumers>,
    /// How far the triggers' watch is applied.
    pub(crate) applied: Arc<Applied>,
    /// Serialises changes, so a trigger is never added for a function being deleted.
    control: Arc<tokio::sync::Mutex<()>>,
}

impl Triggers {
    pub(crate) fn new(
        runner: Runner,
        queue: SharedQueue,
        metrics: Arc<Metrics>,
        definitions: Typed<TriggerConfig>,
        registry: Arc<Registry>,
        control: Arc<tokio::sync::Mutex<()>>,
    ) -> Self {
        let ctx = Arc::new(Context { runner, queue, metrics });
        Self { ctx, definitions, registry, consumers: Arc::default(), applied: Arc::default(), control }
    }

    /// Creates a trigger: the function must exist, and the queue (and binding) must be
    /// declarable on the broker now, so a mistake is reported here rather than in a log later.
    /// Its consumer starts once the store's watch reports it.
    pub async fn add(&self, request: TriggerRequest) -> Result<TriggerConfig, InvokerError> {
        let config = request.into_config(self.ctx.queue.supports_bindings())?;
        let _guard = self.control.lock().await;
        self.registry.lookup(&config.function)?;
        self.ctx.queue.declare(&source(&config)).await?;
        self.ctx.queue.declare(&dlq(&config)).await?;
        let revision = self.definitions.put(&config.id, &config, Expect::Absent).await?;
        self.applied.wait(revision).await;
        tracing::info!(trigger = %config.id, function = %config.function, queue = %config.queue, "trigger added");
        Ok(config)
    }

    pub async fn list(&self) -> Result<Vec<TriggerConfig>, InvokerError> {
        let (stored, _) = self.definitions.list().await?;
        let mut all: Vec<TriggerConfig> = stored.into_iter().map(|s| s.value).collect();
        all.sort_by_key(|t| t.created_at_ms);
        Ok(all)
    }

    pub async fn get(&self, id: &str) -> Result<TriggerConfig, InvokerError> {
        match self.definitions.get(id).await? {
            Some(stored) => Ok(stored.value),
            None => Err(InvokerError::UnknownResource(format!("Trigger not found: {id}"))),
        }
    }

    /// Removes a trigger: its consumer stops (batches in flight finish); its queue and
    /// dead-letter queue stay.
    pub async fn remove(&self, id: &str) -> Result<(), InvokerError> {
        let _guard = self.control.lock().await;
        let Some(stored) = self.definitions.get(id).await? else {
            return Err(InvokerError::UnknownResource(format!("Trigger not found: {id}")));
        };
        let revision = self.definitions.delete(id, Expect::At(stored.revision)).await?;
        self.applied.wait(revision).await;
        Ok(())
    }

    pub async fn dead_letters(&self, id: &str, limit: usize) -> Result<DeadLetterPage, InvokerError> {
        let trigger = self.get(id).await?;
        dead_letters::browse(&*self.ctx.queue, &dlq(&trigger), limit).await
    }

    pub async fn dead_letter(&self, id: &str, message_id: &str) -> Result<DeadLetter, InvokerError> {
        let trigger = self.get(id).await?;
        dead_letters::find(&*self.ctx.queue, &dlq(&trigger), message_id).await
    }

    /// Puts dead-lettered messages back on the trigger's queue with a fresh retry budget.
    pub async fn redrive(&self, id: &str, message_id: Option<&str>) -> Result<u64, InvokerError> {
        let trigger = self.get(id).await?;
        let rewrite = |mut m: Message| {
            m.headers.retain(|k, _| k != batch::ATTEMPT_HEADER && k != batch::ERROR_HEADER);
            m
        };
        dead_letters::transfer(&*self.ctx.queue, &dlq(&trigger), message_id, &source(&trigger), &rewrite).await
    }

    /// Runs the trigger's consumer (the feed calls this for every stored trigger).
    pub(crate) fn consume(&self, trigger: TriggerConfig) {
        consumer::start(&self.consumers, &self.ctx, trigger);
    }

    pub(crate) fn stop_consuming(&self, id: &str) {
        self.consumers.stop(id);
    }

    /// The ids of the triggers consuming now.
    pub(crate) fn consuming(&self) -> Vec<String> {
        self.consumers.keys()
    }

    pub(crate) async fn stop_all(&self) {
        self.consumers.stop_all().await;
    }
}
