//! One batch of a trigger: the `{"Records": [...]}` event, and what its outcome means for each
//! message. Success acks the batch; a function error retries all of it; a success carrying
//! `batchItemFailures` retries only those items (an identifier that names no item of the batch
//! makes the whole batch fail, as in Lambda). A retried message is republished with a delay and
//! its attempt count, then acked; past the maximum it goes to the trigger's dead-letter queue.

use super::context::{dlq, source, Context};
use crate::metrics::TriggerOutcome;
use base64::Engine as _;
use serde_json::{json, Map, Value};
use skiff_api::events::exponential_delay;
use skiff_api::TriggerConfig;
use skiff_state::queue::{Delivery, Message};
use skiff_workers::Outcome;
use std::collections::HashSet;

pub(super) const ATTEMPT_HEADER: &str = "x-skiff-attempt";
pub(super) const ERROR_HEADER: &str = "x-skiff-error";
/// Where the message was first published, kept across retries (which arrive via Skiff's own
/// delay exchange).
const EXCHANGE_HEADER: &str = "x-skiff-exchange";
const ROUTING_KEY_HEADER: &str = "x-skiff-routing-key";

/// A delivery with the id it is known by in the batch (its message id, or one given to it).
pub(crate) struct Item {
    pub(crate) delivery: Delivery,
    pub(crate) id: String,
}

impl Item {
    pub(crate) fn new(delivery: Delivery) -> Self {
        let id = match delivery.message.id.as_str() {
            "" => uuid::Uuid::new_v4().to_string(),
            id => id.to_string(),
        };
        Self { delivery, id }
    }

    fn attempts(&self) -> u64 {
        self.delivery.message.headers.get(ATTEMPT_HEADER).and_then(Value::as_u64).unwrap_or(0)
    }

    fn record(&self, trigger: &TriggerConfig, source: &str) -> Value {
        let m = &self.delivery.message;
        let header = |k: &str| m.headers.get(k).and_then(Value::as_str).map(str::to_owned);
        let user_headers: Map<String, Value> = m.headers.iter().filter(|(k, _)| !k.starts_with("x-skiff-")).map(|(k, v)| (k.clone(), v.clone())).collect();
        let mut record = json!({
            "messageId": self.id,
            "headers": user_headers,
            "exchange": header(EXCHANGE_HEADER).unwrap_or_else(|| self.delivery.exchange.clone()),
            "routingKey": header(ROUTING_KEY_HEADER).unwrap_or_else(|| self.delivery.routing_key.clone()),
            "redelivered": self.delivery.redelivered() || self.attempts() > 0,
            "attempt": self.attempts() + 1,
            "queue": trigger.queue,
            "eventSource": source,
        });
        match std::str::from_utf8(&m.body) {
            Ok(text) => record["body"] = text.into(),
            Err(_) => {
                record["body"] = base64::engine::general_purpose::STANDARD.encode(&m.body).into();
                record["bodyEncoding"] = "base64".into();
            }
        }
        record
    }
}

pub(super) async fn process(ctx: &Context, trigger: &TriggerConfig, items: Vec<Item>) {
    let source = format!("skiff:{}", ctx.queue.backend().as_str());
    let records: Vec<Value> = items.iter().map(|i| i.record(trigger, &source)).collect();
    let payload = bytes::Bytes::from(serde_json::to_vec(&json!({ "Records": records })).expect("json"));
    let request_id = uuid::Uuid::new_v4().to_string();
    let result = ctx.runner.invoke_when_admitted(&trigger.function, skiff_api::VersionRef::Latest, &request_id, payload, None).await;
    let (failed, error): (HashSet<String>, String) = match result {
        Ok(r) => match &r.execution.outcome {
            Outcome::Success(output) => match item_failures(output, &items) {
                Ok(failed) => (failed, "reported in batchItemFailures".into()),
                Err(why) => (all(&items), why),
            },
            Outcome::Error(e) => (all(&items), format!("{}: {}", e.error_type.as_str(), e.message)),
        },
        Err(e) => (all(&items), e.to_string()),
    };
    for item in items {
        if failed.contains(&item.id) {
            retry(ctx, trigger, item, &error).await;
        } else {
            settle(ctx, trigger, item.delivery, TriggerOutcome::Acked).await;
        }
    }
}

fn all(items: &[Item]) -> HashSet<String> {
    items.iter().map(|i| i.id.clone()).collect()
}

/// The ids the function reported as failed, or why its report is unusable.
fn item_failures(output: &[u8], items: &[Item]) -> Result<HashSet<String>, String> {
    let Ok(Value::Object(result)) = serde_json::from_slice::<Value>(output) else {
        return Ok(HashSet::new());
    };
    let Some(failures) = result.get("batchItemFailures") else {
        return Ok(HashSet::new());
    };
    let Some(failures) = failures.as_array() else {
        return Err("batchItemFailures is not a list".into());
    };
    let known = all(items);
    let mut failed = HashSet::new();
    for f in failures {
        match f.get("itemIdentifier").and_then(Value::as_str) {
            Some(id) if known.contains(id) => {
                failed.insert(id.to_string());
            }
            other => return Err(format!("batchItemFailures names an unknown item: {other:?}")),
        }
    }
    Ok(failed)
}

async fn retry(ctx: &Context, trigger: &TriggerConfig, item: Item, error: &str) {
    let attempts = item.attempts() + 1;
    let mut message: Message = item.delivery.message.clone();
    message.id = item.id.clone();
    message.headers.insert(ATTEMPT_HEADER.into(), attempts.into());
    message.headers.insert(ERROR_HEADER.into(), error.chars().take(1024).collect::<String>().into());
    message.headers.entry(EXCHANGE_HEADER).or_insert_with(|| item.delivery.exchange.clone().into());
    message.headers.entry(ROUTING_KEY_HEADER).or_insert_with(|| item.delivery.routing_key.clone().into());
    let broker = &ctx.queue;
    let (outcome, sent) = if attempts > u64::from(trigger.max_retries) {
        (TriggerOutcome::DeadLettered, broker.publish(&dlq(trigger), &message, None).await)
    } else {
        let delay = exponential_delay(trigger.retry_delay_ms, attempts as u32);
        (TriggerOutcome::Retried, broker.publish(&source(trigger), &message, Some(delay)).await)
    };
    match sent {
        Ok(()) => {
            if outcome == TriggerOutcome::DeadLettered {
                ctx.metrics.dead_letters.with_label_values(&[&trigger.function]).inc();
            }
            settle(ctx, trigger, item.delivery, outcome).await
        }
        Err(e) => {
            tracing::warn!(trigger = %trigger.id, "cannot retry a message, it will be delivered again: {e}");
            item.delivery.requeue().await;
        }
    }
}

async fn settle(ctx: &Context, trigger: &TriggerConfig, delivery: Delivery, outcome: TriggerOutcome) {
    match delivery.ack().await {
        Ok(()) => ctx.metrics.trigger_messages.with_label_values(&[&trigger.function, outcome.as_str()]).inc(),
        Err(e) => tracing::warn!(trigger = %trigger.id, "ack failed, the message will be delivered again: {e}"),
    }
}
