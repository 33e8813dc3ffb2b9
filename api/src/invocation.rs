//! Asynchronous invocations as callers see them: their status, and what sits in a dead-letter
//! queue.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// Largest event an asynchronous invocation accepts (Lambda's limit for `Event` invocations).
pub const MAX_ASYNC_PAYLOAD: usize = 1024 * 1024;
/// Results above this are not kept in the status record (`result_truncated` says so).
pub const MAX_STORED_RESULT: usize = 256 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvocationState {
    Queued,
    Running,
    Succeeded,
    Failed,
}

/// Why an event went to its function's dead-letter queue (Lambda's condition names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeadLetterCondition {
    RetriesExhausted,
    EventAgeExceeded,
    /// A chain of on-success destinations reached its bound: Lambda's recursive loop detection.
    RecursiveInvocationLoop,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InvocationStatus {
    pub request_id: String,
    pub function: String,
    pub state: InvocationState,
    /// Attempts started so far.
    pub attempts: u32,
    pub redrives: u32,
    pub accepted_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_ms: Option<u64>,
    /// When a scheduled retry is due.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Box<RawValue>>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub result_truncated: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
    /// Set when the event went to the dead-letter queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter: Option<DeadLetterCondition>,
}

impl InvocationStatus {
    /// A record in `state` with nothing known yet but who, what and when it was accepted.
    pub fn new(request_id: String, function: String, state: InvocationState, accepted_ms: u64) -> Self {
        Self {
            request_id,
            function,
            state,
            attempts: 0,
            redrives: 0,
            accepted_ms,
            started_ms: None,
            finished_ms: None,
            next_attempt_ms: None,
            duration_ms: None,
            result: None,
            result_truncated: false,
            error: None,
            dead_letter: None,
        }
    }

    /// Keeps a result that is JSON and small enough; otherwise notes it was dropped.
    pub fn with_result(mut self, output: &[u8]) -> Self {
        if output.len() > MAX_STORED_RESULT {
            self.result_truncated = true;
        } else if !output.is_empty() {
            match serde_json::from_slice::<Box<RawValue>>(output) {
                Ok(raw) => self.result = Some(raw),
                Err(_) => {
                    let text = serde_json::to_string(&String::from_utf8_lossy(output)).expect("json");
                    self.result = RawValue::from_string(text).ok();
                }
            }
        }
        self
    }
}

/// One message in a dead-letter queue.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeadLetter {
    pub id: String,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub headers: Map<String, Value>,
    /// The message: for a function's DLQ, the event record (payload, attempts, last_error,
    /// condition, timestamps); for a trigger's, the original body (JSON if it is JSON).
    pub body: Value,
}

impl DeadLetter {
    /// A stored message as the API shows it: its body as JSON when it is JSON, else as text.
    pub fn from_parts(id: String, headers: Map<String, Value>, body: &[u8]) -> Self {
        let body = serde_json::from_slice(body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()));
        DeadLetter { id, headers, body }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeadLetterPage {
    /// How many messages the queue holds in all.
    pub total: u64,
    pub messages: Vec<DeadLetter>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_keep_lambdas_names_and_results_are_bounded() {
        assert_eq!(serde_json::to_string(&DeadLetterCondition::EventAgeExceeded).unwrap(), "\"EventAgeExceeded\"");
        let status = InvocationStatus::new("r".into(), "f".into(), InvocationState::Succeeded, 0);
        assert_eq!(status.clone().with_result(b"not json").result.unwrap().get(), "\"not json\"");
        assert!(status.with_result(&vec![b' '; MAX_STORED_RESULT + 1]).result_truncated);
    }
}
