//! Put/Get/DeleteFunctionEventInvokeConfig, on the function's asynchronous-invocation settings.
//!
//! Destinations are ARNs: a function (`arn:aws:lambda:REGION:ACCOUNT:function:NAME`) or a
//! RabbitMQ queue, written as an SQS queue ARN (`arn:aws:sqs:REGION:ACCOUNT:QUEUE`). Failed
//! events always go to the function's own dead-letter store, so `OnFailure` is refused.

use super::field_error;
use crate::arn::{function_arn, queue_arn, queue_of_arn};
use crate::error::Invalid;
use crate::events::{Destination, EventConfig, EventConfigUpdate};
use serde::{Deserialize, Serialize};

/// Lambda's ranges (Skiff's native API allows more retries).
const MAX_RETRY_ATTEMPTS: u32 = 2;
const EVENT_AGE_S: std::ops::RangeInclusive<u32> = 60..=21_600;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutEventInvokeConfig {
    pub maximum_retry_attempts: Option<u32>,
    pub maximum_event_age_in_seconds: Option<u32>,
    pub destination_config: Option<DestinationConfig>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct DestinationConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_success: Option<DestinationArn>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<DestinationArn>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct DestinationArn {
    pub destination: Option<String>,
}

impl PutEventInvokeConfig {
    /// Put replaces the whole configuration: what is not given takes Lambda's default.
    pub fn into_update(self) -> Result<EventConfigUpdate, Invalid> {
        let defaults = EventConfig::default();
        let retries = self.maximum_retry_attempts.unwrap_or(defaults.max_retries);
        if retries > MAX_RETRY_ATTEMPTS {
            return Err(field_error("MaximumRetryAttempts", format!("{retries} is out of range: 0 to {MAX_RETRY_ATTEMPTS}")));
        }
        let age = self.maximum_event_age_in_seconds.unwrap_or(defaults.max_event_age_s);
        if !EVENT_AGE_S.contains(&age) {
            return Err(field_error("MaximumEventAgeInSeconds", format!("{age} is out of range: 60 to 21600")));
        }
        let destinations = self.destination_config.unwrap_or_default();
        if destinations.on_failure.as_ref().is_some_and(|d| d.destination.is_some()) {
            return Err(field_error("DestinationConfig.OnFailure", "not supported: failed events are kept in the function's dead-letter store (skiff dlq)"));
        }
        let on_success = match destinations.on_success.and_then(|d| d.destination) {
            None => None,
            Some(arn) => Some(destination_of(&arn).map_err(|e| field_error("DestinationConfig.OnSuccess.Destination", e))?),
        };
        Ok(EventConfigUpdate {
            max_retries: Some(retries),
            max_event_age_s: Some(age),
            retry_delay_ms: None,
            on_success: Some(on_success),
            explicit: Some(true),
        })
    }
}

/// A destination ARN as a Skiff destination.
fn destination_of(arn: &str) -> Result<Destination, Invalid> {
    if let Some(queue) = queue_of_arn(arn) {
        return format!("queue:{queue}").parse();
    }
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", _, "lambda", _, _, rest] => match rest.strip_prefix("function:") {
            Some(name) => format!("function:{name}").parse(),
            None => Err(Invalid(format!("{arn:?} is not a function ARN"))),
        },
        _ => Err(Invalid(format!("{arn:?}: expected a function ARN or a queue ARN (arn:aws:sqs:REGION:ACCOUNT:QUEUE)"))),
    }
}

/// A destination as the ARN Lambda shows.
fn arn_of(destination: &Destination, region: &str) -> String {
    match destination {
        Destination::Function(name) => function_arn(region, name),
        Destination::Queue(queue) => queue_arn(region, queue),
    }
}

/// `FunctionEventInvokeConfig`, as Get and Put return it.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct EventInvokeConfig {
    /// Seconds since the epoch (the JSON protocol's timestamp form).
    pub last_modified: f64,
    pub function_arn: String,
    pub maximum_retry_attempts: u32,
    pub maximum_event_age_in_seconds: u32,
    pub destination_config: DestinationConfig,
}

impl EventInvokeConfig {
    pub fn of(function: &str, events: &EventConfig, region: &str, updated_at_ms: u64) -> Self {
        let on_success = events.on_success.as_ref().map(|d| DestinationArn { destination: Some(arn_of(d, region)) });
        Self {
            last_modified: updated_at_ms as f64 / 1000.0,
            function_arn: function_arn(region, function),
            maximum_retry_attempts: events.max_retries,
            maximum_event_age_in_seconds: events.max_event_age_s,
            destination_config: DestinationConfig { on_success, on_failure: None },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(body: serde_json::Value) -> Result<EventConfigUpdate, Invalid> {
        serde_json::from_value::<PutEventInvokeConfig>(body).unwrap().into_update()
    }

    #[test]
    fn put_maps_lambdas_fields_and_destinations() {
        let update = put(serde_json::json!({
            "MaximumRetryAttempts": 0,
            "DestinationConfig": {"OnSuccess": {"Destination": "arn:aws:sqs:us-east-1:000000000000:done"}}
        }))
        .unwrap();
        assert_eq!(update.max_retries, Some(0));
        assert_eq!(update.max_event_age_s, Some(21_600), "put resets what it does not give");
        assert_eq!(update.on_success, Some(Some(Destination::Queue("done".into()))));
        let to_function = put(serde_json::json!({"DestinationConfig": {"OnSuccess": {"Destination": "arn:aws:lambda:us-east-1:0:function:next"}}})).unwrap();
        assert_eq!(to_function.on_success, Some(Some(Destination::Function("next".into()))));
        let shown = EventInvokeConfig::of("f", &to_function.apply(None), "us-east-1", 1000);
        assert_eq!(shown.destination_config.on_success.unwrap().destination.unwrap(), "arn:aws:lambda:us-east-1:000000000000:function:next");
        let err = |b| put(b).unwrap_err().0;
        assert!(err(serde_json::json!({"MaximumRetryAttempts": 3})).starts_with("MaximumRetryAttempts:"));
        assert!(err(serde_json::json!({"MaximumEventAgeInSeconds": 59})).starts_with("MaximumEventAgeInSeconds:"));
        assert!(err(serde_json::json!({"DestinationConfig": {"OnFailure": {"Destination": "arn:aws:sqs:r:a:q"}}})).starts_with("DestinationConfig.OnFailure"));
        assert!(err(serde_json::json!({"DestinationConfig": {"OnSuccess": {"Destination": "arn:aws:sns:r:a:t"}}})).starts_with("DestinationConfig.OnSuccess"));
    }
}
