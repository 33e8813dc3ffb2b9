//! An accepted event as it travels through the function's queue, its retries and its
//! dead-letter queue. The message body is this, as JSON; the message id is the request id.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;
use skiff_api::{DeadLetterCondition, InvocationState, InvocationStatus, VersionRef};
use skiff_state::queue::Message;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Event {
    pub(crate) request_id: String,
    pub(crate) function: String,
    /// The version it runs on, fixed when it was accepted (an alias is resolved then).
    #[serde(default, skip_serializing_if = "VersionRef::is_latest")]
    pub(crate) version: VersionRef,
    /// The payload as sent (valid JSON); `None` for an empty payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) payload: Option<Box<RawValue>>,
    /// Attempts already made.
    #[serde(default)]
    pub(crate) attempts: u32,
    /// How many on-success destinations led to this event: 0 for one a caller sent. A chain
    /// of destinations (A → B → A …) is stopped at [`MAX_DESTINATION_HOPS`].
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(crate) hops: u32,
    /// How often the event was redriven from the dead-letter queue.
    #[serde(default)]
    pub(crate) redrives: u32,
    /// When it was accepted (or last redriven): the start of its maximum age.
    pub(crate) accepted_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) callback_url: Option<String>,
    /// The last attempt's error document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) last_error: Option<Value>,
    /// Why it is in the dead-letter queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) condition: Option<DeadLetterCondition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) dead_lettered_ms: Option<u64>,
}

/// Lambda stops a recursive loop after 16 invocations; so does Skiff.
pub(crate) const MAX_DESTINATION_HOPS: u32 = 16;

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Event {
    /// A new event, as accepted now.
    pub(crate) fn accepted(request_id: String, function: String, version: VersionRef, payload: Option<Box<RawValue>>, callback_url: Option<String>) -> Self {
        Self {
            request_id,
            function,
            version,
            payload,
            attempts: 0,
            hops: 0,
            redrives: 0,
            accepted_ms: skiff_api::now_ms(),
            callback_url,
            last_error: None,
            condition: None,
            dead_lettered_ms: None,
        }
    }

    pub(crate) fn to_message(&self) -> Message {
        Message { id: self.request_id.clone(), headers: Default::default(), body: serde_json::to_vec(self).expect("json").into() }
    }

    pub(crate) fn from_message(message: &Message) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(&message.body)
    }

    pub(crate) fn payload_bytes(&self) -> bytes::Bytes {
        self.payload.as_ref().map_or_else(bytes::Bytes::new, |p| bytes::Bytes::copy_from_slice(p.get().as_bytes()))
    }

    /// The event's status record in `state`, with nothing but what the event itself knows.
    pub(crate) fn status(&self, state: InvocationState) -> InvocationStatus {
        let mut status = InvocationStatus::new(self.request_id.clone(), self.function.clone(), state, self.accepted_ms);
        status.attempts = self.attempts;
        status.redrives = self.redrives;
        status.error = self.last_error.clone();
        status
    }
}
