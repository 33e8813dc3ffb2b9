//! `X-Callback-Url`: when an asynchronous invocation ends (success, or failure after its last
//! attempt), its final status is POSTed there.
//!
//! A callback is a job of its own, not part of the invocation: the event's attempt puts it in
//! the durable callback queue (before the event is acked, so a crash repeats it: at least once,
//! like the invocation) and releases its execution slot at once; the deliverer sends it, and
//! when the receiver fails or is slow, schedules the next try through the queue with backoff.
//! A receiver that never answers therefore delays nobody's events, only its own callbacks.
//! Where a callback may go is the operator's policy (see `crate::callback_policy`); redirects
//! are not followed (they would carry the body elsewhere), and URLs are logged without their
//! credentials.

mod deliver;
mod target;

pub(crate) use deliver::{start, Deliverer};
pub(crate) use target::check;

use serde::{Deserialize, Serialize};
use skiff_api::InvocationStatus;
use skiff_state::queue::{Message, Queue, QueueError, QueueRef};

/// Tries per callback, the first included.
pub(crate) const ATTEMPTS: u32 = 5;

/// One callback to send, as kept in the callback queue.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct CallbackJob {
    pub(crate) url: String,
    /// Tries already made.
    #[serde(default)]
    pub(crate) tries: u32,
    pub(crate) status: InvocationStatus,
}

impl CallbackJob {
    pub(crate) fn to_message(&self) -> Message {
        let id = format!("{}.{}", self.status.request_id, self.tries);
        Message { id, headers: Default::default(), body: serde_json::to_vec(self).expect("json").into() }
    }
}

/// Makes the callback durable in the callback queue; the deliverer takes it from there.
pub(crate) async fn enqueue(queue: &dyn Queue, url: &str, status: &InvocationStatus) -> Result<(), QueueError> {
    let job = CallbackJob { url: url.to_string(), tries: 0, status: status.clone() };
    queue.publish(&QueueRef::callbacks(), &job.to_message(), None).await
}
