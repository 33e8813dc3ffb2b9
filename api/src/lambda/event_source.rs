//! Create/List/Get/DeleteEventSourceMapping, on Skiff's queue triggers: a mapping is a trigger,
//! its `UUID` the trigger's id.
//!
//! `EventSourceArn` names the queue the way destinations do, as an SQS queue ARN:
//! `arn:aws:sqs:REGION:ACCOUNT:QUEUE` is the queue `QUEUE` on Skiff's broker (RabbitMQ, or the
//! embedded queue). Binding the queue to an exchange is the native API's (`/v1/triggers`). Fields
//! a trigger cannot honour are refused by name, so nobody believes a setting took effect.

use super::field_error;
use super::reference::FunctionRef;
use crate::arn::{function_arn, queue_arn, queue_of_arn};
use crate::error::Invalid;
use crate::trigger::{TriggerConfig, TriggerRequest};
use serde::Serialize;
use serde_json::{Map, Value};

const FIELDS: [&str; 6] = ["FunctionName", "EventSourceArn", "BatchSize", "MaximumBatchingWindowInSeconds", "Enabled", "ScalingConfig"];
const BATCH_SIZE: std::ops::RangeInclusive<u64> = 1..=1000;
const WINDOW_S: std::ops::RangeInclusive<u64> = 0..=300;
/// Lambda's lower bound; Skiff's trigger concurrency goes up to 100.
const MAXIMUM_CONCURRENCY: std::ops::RangeInclusive<u64> = 2..=100;

/// CreateEventSourceMapping's body as the trigger it asks for.
pub fn create_request(body: &Value) -> Result<TriggerRequest, Invalid> {
    let fields = body.as_object().ok_or_else(|| Invalid("the request body must be a JSON object".into()))?;
    if let Some(unknown) = fields.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(field_error(unknown, "is not supported by Skiff's queue triggers"));
    }
    let function = required_text(fields, "FunctionName")?;
    let reference = FunctionRef::parse(function)?;
    if reference.qualifier.is_some() {
        return Err(field_error("FunctionName", "a trigger calls the function itself: give no qualifier"));
    }
    let source = required_text(fields, "EventSourceArn")?;
    let queue =
        queue_of_arn(source).ok_or_else(|| field_error("EventSourceArn", format!("{source:?} is not a queue ARN (arn:aws:sqs:REGION:ACCOUNT:QUEUE)")))?;
    if fields.get("Enabled").is_some_and(|e| e != &Value::Bool(true)) {
        return Err(field_error("Enabled", "only true: delete the mapping to stop it"));
    }
    let concurrency = match fields.get("ScalingConfig") {
        None => None,
        Some(scaling) => number(scaling.as_object().and_then(|s| s.get("MaximumConcurrency")), "ScalingConfig.MaximumConcurrency", MAXIMUM_CONCURRENCY)?,
    };
    let window_s = number(fields.get("MaximumBatchingWindowInSeconds"), "MaximumBatchingWindowInSeconds", WINDOW_S)?;
    Ok(TriggerRequest {
        function: reference.name,
        queue: queue.to_string(),
        batch_size: number(fields.get("BatchSize"), "BatchSize", BATCH_SIZE)?,
        batch_window_ms: window_s.map(|s| s * 1000),
        concurrency,
        ..Default::default()
    })
}

fn required_text<'b>(fields: &'b Map<String, Value>, field: &str) -> Result<&'b str, Invalid> {
    fields.get(field).and_then(Value::as_str).ok_or_else(|| field_error(field, "is required (a string)"))
}

fn number(value: Option<&Value>, field: &str, range: std::ops::RangeInclusive<u64>) -> Result<Option<u32>, Invalid> {
    let Some(value) = value else { return Ok(None) };
    match value.as_u64().filter(|n| range.contains(n)) {
        Some(n) => Ok(Some(n as u32)),
        None => Err(field_error(field, format!("{value} is out of range: {} to {}", range.start(), range.end()))),
    }
}

/// A mapping as Lambda shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EventSourceMapping {
    #[serde(rename = "UUID")]
    pub uuid: String,
    pub event_source_arn: String,
    pub function_arn: String,
    pub batch_size: u32,
    pub maximum_batching_window_in_seconds: u32,
    pub state: &'static str,
    pub state_transition_reason: &'static str,
    /// Seconds since the epoch, as Lambda's JSON timestamps are.
    pub last_modified: f64,
    pub scaling_config: ScalingConfig,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScalingConfig {
    pub maximum_concurrency: u32,
}

impl EventSourceMapping {
    /// `state`: `Enabled` while the trigger runs, `Deleting` in the answer to a delete.
    pub fn of(trigger: &TriggerConfig, region: &str, state: &'static str) -> Self {
        Self {
            uuid: trigger.id.clone(),
            event_source_arn: queue_arn(region, &trigger.queue),
            function_arn: function_arn(region, &trigger.function),
            batch_size: trigger.batch_size,
            maximum_batching_window_in_seconds: trigger.batch_window_ms / 1000,
            state,
            state_transition_reason: "USER_INITIATED",
            last_modified: trigger.created_at_ms as f64 / 1000.0,
            scaling_config: ScalingConfig { maximum_concurrency: trigger.concurrency },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_mapping_asks_for_the_trigger_of_its_queue() {
        let request = create_request(&json!({
            "FunctionName": "arn:aws:lambda:us-east-1:000000000000:function:orders",
            "EventSourceArn": "arn:aws:sqs:us-east-1:000000000000:orders-q",
            "BatchSize": 5, "MaximumBatchingWindowInSeconds": 2, "Enabled": true,
            "ScalingConfig": {"MaximumConcurrency": 4}
        }))
        .unwrap();
        assert_eq!((request.function.as_str(), request.queue.as_str()), ("orders", "orders-q"));
        assert_eq!((request.batch_size, request.batch_window_ms, request.concurrency), (Some(5), Some(2000), Some(4)));
        let plain = create_request(&json!({"FunctionName": "f", "EventSourceArn": "arn:aws:sqs:r:a:q"})).unwrap();
        assert_eq!((plain.batch_size, plain.concurrency), (None, None), "defaults are the trigger's");
    }

    #[test]
    fn what_a_trigger_cannot_do_is_refused_by_name() {
        let refused = |body: Value| create_request(&body).unwrap_err().to_string();
        let base = || json!({"FunctionName": "f", "EventSourceArn": "arn:aws:sqs:r:a:q"});
        let with = |field: &str, value: Value| {
            let mut body = base();
            body[field] = value;
            body
        };
        assert!(refused(with("StartingPosition", json!("LATEST"))).starts_with("StartingPosition"));
        assert!(refused(with("FilterCriteria", json!({}))).starts_with("FilterCriteria"));
        assert!(refused(with("Enabled", json!(false))).starts_with("Enabled"));
        assert!(refused(with("BatchSize", json!(0))).starts_with("BatchSize"));
        assert!(refused(with("BatchSize", json!(5000))).starts_with("BatchSize"));
        assert!(refused(with("EventSourceArn", json!("arn:aws:kinesis:r:a:stream/s"))).starts_with("EventSourceArn"));
        assert!(refused(with("FunctionName", json!("f:live"))).starts_with("FunctionName"));
        assert!(refused(json!({"EventSourceArn": "arn:aws:sqs:r:a:q"})).starts_with("FunctionName"));
    }

    #[test]
    fn a_trigger_shows_as_lambda_shows_a_mapping() {
        let trigger = TriggerConfig {
            id: "a1b2c3d4e5f6".into(),
            function: "orders".into(),
            queue: "orders-q".into(),
            exchange: None,
            routing_key: None,
            batch_size: 10,
            batch_window_ms: 3000,
            concurrency: 2,
            max_retries: 3,
            retry_delay_ms: 1000,
            created_at_ms: 1_500,
        };
        let shown = serde_json::to_value(EventSourceMapping::of(&trigger, "us-east-1", "Enabled")).unwrap();
        assert_eq!(shown["UUID"], "a1b2c3d4e5f6");
        assert_eq!(shown["EventSourceArn"], "arn:aws:sqs:us-east-1:000000000000:orders-q");
        assert_eq!(shown["FunctionArn"], "arn:aws:lambda:us-east-1:000000000000:function:orders");
        assert_eq!((shown["MaximumBatchingWindowInSeconds"].as_u64(), shown["LastModified"].as_f64()), (Some(3), Some(1.5)));
        assert_eq!(shown["ScalingConfig"]["MaximumConcurrency"], 2);
    }
}
