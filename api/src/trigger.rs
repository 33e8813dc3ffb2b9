//! Queue triggers, like Lambda's event source mappings: what a trigger is and how a request
//! for one is checked.

use crate::error::Invalid;
use crate::names::{check_function_name, check_user_queue_name, BrokerObject};
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
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerRequest {
    pub function: String,
    pub queue: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_window_ms: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_delay_ms: Option<u32>,
}

fn check_range(what: &str, value: u32, range: std::ops::RangeInclusive<u32>) -> Result<u32, Invalid> {
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(Invalid(format!("{what} {value} is out of range: {} to {}", range.start(), range.end())))
    }
}

impl TriggerRequest {
    /// Checks the request and fills in defaults. `bindings` says whether the queue backend can
    /// bind a queue to an exchange (RabbitMQ can; the embedded queue cannot).
    pub fn into_config(self, bindings: bool) -> Result<TriggerConfig, Invalid> {
        check_function_name(&self.function)?;
        check_user_queue_name(BrokerObject::Queue, &self.queue)?;
        let bind = match (&self.exchange, &self.routing_key) {
            (Some(x), key) => {
                check_user_queue_name(BrokerObject::Exchange, x)?;
                if !bindings {
                    return Err(Invalid("exchange bindings need RabbitMQ: this server runs the embedded queue (start it with --amqp-url)".into()));
                }
                Some((x.clone(), key.clone().unwrap_or_default()))
            }
            (None, Some(_)) => return Err(Invalid("routing_key needs an exchange".into())),
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
            created_at_ms: crate::time::now_ms(),
        })
    }
}
