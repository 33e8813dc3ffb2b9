//! Accepting an asynchronous invocation and looking it up later.

use super::{callback, Event, InvocationState, InvocationStatus, MAX_ASYNC_PAYLOAD};
use crate::invoker::now_ms;
use crate::{Invoker, InvokerError};
use bytes::Bytes;
use serde_json::value::RawValue;

impl Invoker {
    /// Accepts an event for `function`: validated, then durable in the function's queue (the
    /// broker confirmed it, or the embedded queue fsync'd it), and only then is the request id
    /// returned. If the queue cannot take it, nothing was accepted and the error says so.
    pub async fn enqueue(&self, function: &str, payload: Bytes, callback_url: Option<String>) -> Result<String, InvokerError> {
        self.lookup(function)?;
        if payload.len() > MAX_ASYNC_PAYLOAD {
            return Err(InvokerError::TooLarge(format!(
                "Request must be smaller than {MAX_ASYNC_PAYLOAD} bytes for the InvokeAsync operation"
            )));
        }
        let payload = if payload.iter().all(u8::is_ascii_whitespace) {
            None
        } else {
            let text = std::str::from_utf8(&payload)
                .map_err(|_| InvokerError::Invalid("Could not parse request body into json: not UTF-8".into()))?;
            Some(
                RawValue::from_string(text.to_string())
                    .map_err(|e| InvokerError::Invalid(format!("Could not parse request body into json: {e}")))?,
            )
        };
        if let Some(url) = &callback_url {
            callback::validate(url)?;
        }
        let event = Event {
            // Time-ordered (UUIDv7): status records are keyed by it, so they are written at the
            // end of the tree and expire from its start.
            request_id: uuid::Uuid::now_v7().to_string(),
            function: function.to_string(),
            payload,
            attempts: 0,
            redrives: 0,
            accepted_ms: now_ms(),
            callback_url,
            last_error: None,
            condition: None,
            dead_lettered_ms: None,
        };
        // The record goes first (see `status`): a consumer may finish the event before the
        // publish call even returns.
        self.inner.status.record(InvocationStatus::of(&event, InvocationState::Queued));
        let request_id = event.request_id.clone();
        if let Err(e) = self.inner.coalescer.publish(&self.inner.broker, event).await {
            self.inner.status.forget(&request_id);
            return Err(InvokerError::Queue(e));
        }
        self.inner.metrics.events_accepted.with_label_values(&[function]).inc();
        Ok(request_id)
    }

    /// The status of an asynchronous invocation, while it is retained.
    pub fn invocation_status(&self, request_id: &str) -> Result<InvocationStatus, InvokerError> {
        self.inner
            .status
            .get(request_id)?
            .ok_or_else(|| InvokerError::UnknownResource(format!("no asynchronous invocation {request_id} (unknown, or past retention)")))
    }

    /// Waits up to `limit` for the queue to be usable (the first broker connection), so a server
    /// that starts serving does not turn its first events away. False if it is not.
    pub async fn queue_ready(&self, limit: std::time::Duration) -> bool {
        self.inner.broker.wait_ready(limit).await
    }

    /// Which queue backs asynchronous invocations: `rabbitmq` or `embedded`.
    pub fn queue_kind(&self) -> &'static str {
        self.inner.broker.kind()
    }
}
