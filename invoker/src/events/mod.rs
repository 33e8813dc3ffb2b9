//! Asynchronous invocations: Lambda's `Event` invocation type. An accepted event is a message in
//! the function's durable queue (see `queue`); a per-function dispatcher consumes it, runs the
//! function, and only then acks. Failures are retried with exponential backoff held by the queue,
//! and events that run out of retries or age end up in the function's dead-letter queue, from
//! which they can be redriven. The status of each event is kept for a bounded time.

mod accept;
mod callback;
mod coalesce;
mod config;
mod dead_letters;
mod dispatcher;
mod record;
mod status;

pub use config::{Destination, EventConfig, EventConfigUpdate};
pub(crate) use config::exponential_delay;
pub use dead_letters::{DeadLetter, DeadLetterPage};
pub(crate) use callback::client as callback_client;
pub(crate) use coalesce::Coalescer;
pub(crate) use dispatcher::{ensure as ensure_dispatcher, Dispatchers};
pub use status::{InvocationState, InvocationStatus};
pub(crate) use status::StatusStore;

/// Largest event an asynchronous invocation accepts (Lambda's limit for `Event` invocations).
pub const MAX_ASYNC_PAYLOAD: usize = 1024 * 1024;

use crate::queue::Message;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

/// An accepted event as it travels through the function's queue, its retries and its
/// dead-letter queue. The message body is this, as JSON; the message id is the request id.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Event {
    pub(crate) request_id: String,
    pub(crate) function: String,
    /// The payload as sent (valid JSON); `None` for an empty payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) payload: Option<Box<RawValue>>,
    /// Attempts already made.
    #[serde(default)]
    pub(crate) attempts: u32,
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
    /// Why it is in the dead-letter queue: `RetriesExhausted` or `EventAgeExceeded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) condition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) dead_lettered_ms: Option<u64>,
}

impl Event {
    pub(crate) fn to_message(&self) -> Message {
        Message {
            id: self.request_id.clone(),
            headers: Default::default(),
            body: serde_json::to_vec(self).expect("json").into(),
        }
    }

    pub(crate) fn from_message(message: &Message) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(&message.body)
    }

    pub(crate) fn payload_bytes(&self) -> bytes::Bytes {
        self.payload.as_ref().map_or_else(bytes::Bytes::new, |p| bytes::Bytes::copy_from_slice(p.get().as_bytes()))
    }
}
