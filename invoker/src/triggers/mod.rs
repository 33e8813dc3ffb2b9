//! Queue triggers, like Lambda's event source mappings: a queue's messages are delivered to a
//! function in batches as `{"Records": [...]}`. Triggers are persisted with the functions and
//! resume after a restart.

mod batch;
mod consumer;

pub(crate) use consumer::{start as start_trigger, Triggers};

use crate::invoker::now_ms;
use crate::queue::{check_user_name, Broker, Message, QueueRef};
use crate::{DeadLetter, DeadLetterPage, Invoker, InvokerError};
use serde::{Deserialize, Serialize};

const BATCH_SIZE: std::ops::RangeInclusive<u32> = 1..=1000;
const BATCH_WINDOW_MS: std::ops::RangeInclusive<u32> = 0..=300_000;
const CONCURRENCY: std::ops::RangeInclusive<u32> = 1..=100;
const MAX_RETRIES: u32 = 10;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriggerConfig {
    pub id: String,
    pub function: String,
    pub queue: String,
    /// Bind `queue` to this exchange with `routing_key` (RabbitMQ only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing_key: Option<String>,
    /// Most messages per invocation.
    pub batch_size: u32,
    /// How long a batch may wait to fill up; 0 sends what is there at once.
    pub batch_window_ms: u32,
    /// Batches in flight at once.
    pub concurrency: u32,
    /// A message whose batch failed is retried this many times, then dead-lettered.
    pub max_retries: u32,
    pub retry_delay_ms: u32,
    pub created_at_ms: u64,
}

/// `POST /v1/triggers`; unset fields take their defaults.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerRequest {
    pub function: String,
    pub queue: String,
    pub exchange: Option<String>,
    pub routing_key: Option<String>,
    pub batch_size: Option<u32>,
    pub batch_window_ms: Option<u32>,
    pub concurrency: Option<u32>,
    pub max_retries: Option<u32>,
    pub retry_delay_ms: Option<u32>,
}

fn check_range(what: &str, value: u32, range: std::ops::RangeInclusive<u32>) -> Result<u32, InvokerError> {
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(InvokerError::Invalid(format!("{what} {value} is out of range: {} to {}", range.start(), range.end())))
    }
}

impl TriggerRequest {
    fn into_config(self, broker: &Broker) -> Result<TriggerConfig, InvokerError> {
        crate::validate_name(&self.function)?;
        check_user_name("queue", &self.queue).map_err(InvokerError::Invalid)?;
        let bind = match (&self.exchange, &self.routing_key) {
            (Some(x), key) => {
                check_user_name("exchange", x).map_err(InvokerError::Invalid)?;
                if matches!(broker, Broker::Embedded(_)) {
                    return Err(InvokerError::Invalid(
                        "exchange bindings need RabbitMQ: this server runs the embedded queue (start it with --amqp-url)".into(),
                    ));
                }
                Some((x.clone(), key.clone().unwrap_or_default()))
            }
            (None, Some(_)) => return Err(InvokerError::Invalid("routing_key needs an exchange".into())),
            (None, None) => None,
        };
        Ok(TriggerConfig {
            id: uuid::Uuid::new_v4().simple().to_string()[..12].to_string(),
            function: self.function,
            queue: self.queue,
            exchange: bind.as_ref().map(|b| b.0.clone()),
            routing_key: bind.map(|b| b.1),
            batch_size: check_range("batch_size", self.batch_size.unwrap_or(10), BATCH_SIZE)?,
            batch_window_ms: check_range("batch_window_ms", self.batch_window_ms.unwrap_or(0), BATCH_WINDOW_MS)?,
            concurrency: check_range("concurrency", self.concurrency.unwrap_or(1), CONCURRENCY)?,
            max_retries: check_range("max_retries", self.max_retries.unwrap_or(3), 0..=MAX_RETRIES)?,
            retry_delay_ms: check_range("retry_delay_ms", self.retry_delay_ms.unwrap_or(1000), 10..=300_000)?,
            created_at_ms: now_ms(),
        })
    }
}

impl TriggerConfig {
    pub(crate) fn source(&self) -> QueueRef {
        let bind = self.exchange.clone().map(|x| (x, self.routing_key.clone().unwrap_or_default()));
        QueueRef::trigger_source(&self.id, &self.queue, bind)
    }

    pub(crate) fn dlq(&self) -> QueueRef {
        QueueRef::trigger_dlq(&self.id)
    }
}

impl Invoker {
    /// Creates a trigger: the function must exist, and the queue (and binding) must be
    /// declarable on the broker now, so a mistake is reported here rather than in a log later.
    pub async fn add_trigger(&self, request: TriggerRequest) -> Result<TriggerConfig, InvokerError> {
        let config = request.into_config(&self.inner.broker)?;
        let _guard = self.inner.control.lock().await;
        self.lookup(&config.function)?;
        self.inner.broker.declare(&config.source()).await?;
        self.inner.broker.declare(&config.dlq()).await?;
        self.inner.store.put_trigger(&config)?;
        start_trigger(&self.inner.triggers, self, config.clone());
        tracing::info!(trigger = %config.id, function = %config.function, queue = %config.queue, "trigger added");
        Ok(config)
    }

    pub fn list_triggers(&self) -> Result<Vec<TriggerConfig>, InvokerError> {
        let mut all = self.inner.store.list_triggers()?;
        all.sort_by_key(|t| t.created_at_ms);
        Ok(all)
    }

    pub fn get_trigger(&self, id: &str) -> Result<TriggerConfig, InvokerError> {
        self.list_triggers()?
            .into_iter()
            .find(|t| t.id == id)
            .ok_or_else(|| InvokerError::UnknownResource(format!("Trigger not found: {id}")))
    }

    /// Removes a trigger: its consumer stops (batches in flight finish); its queue and
    /// dead-letter queue stay.
    pub async fn remove_trigger(&self, id: &str) -> Result<(), InvokerError> {
        let _guard = self.inner.control.lock().await;
        self.get_trigger(id)?;
        self.inner.store.delete_trigger(id)?;
        self.inner.triggers.stop(id);
        Ok(())
    }

    pub async fn trigger_dead_letters(&self, id: &str, limit: usize) -> Result<DeadLetterPage, InvokerError> {
        let trigger = self.get_trigger(id)?;
        self.browse_dead_letters(&trigger.dlq(), limit).await
    }

    pub async fn trigger_dead_letter(&self, id: &str, message_id: &str) -> Result<DeadLetter, InvokerError> {
        let trigger = self.get_trigger(id)?;
        self.find_dead_letter(&trigger.dlq(), message_id).await
    }

    /// Puts dead-lettered messages back on the trigger's queue with a fresh retry budget.
    pub async fn redrive_trigger(&self, id: &str, message_id: Option<&str>) -> Result<u64, InvokerError> {
        let trigger = self.get_trigger(id)?;
        let rewrite = |mut m: Message| {
            m.headers.retain(|k, _| k != batch::ATTEMPT_HEADER && k != batch::ERROR_HEADER);
            m
        };
        self.transfer_dead_letters(&trigger.dlq(), message_id, &trigger.source(), &rewrite).await
    }
}
