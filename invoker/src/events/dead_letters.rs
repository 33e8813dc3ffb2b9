//! Dead-letter queues: listing, inspecting and redriving what ended up there. A function's DLQ
//! holds its events with the last error, the attempt count and why they stopped; a trigger's
//! holds the source messages as they arrived, with the error in their headers.

use super::{Event, InvocationState, InvocationStatus};
use crate::invoker::now_ms;
use crate::queue::{Message, QueueRef, Rewrite};
use crate::{Invoker, InvokerError};
use serde::Serialize;
use serde_json::{Map, Value};

/// Browsing stops after this many messages, so a huge DLQ cannot make a request unbounded.
pub const MAX_BROWSE: usize = 10_000;

#[derive(Debug, Clone, Serialize)]
pub struct DeadLetter {
    pub id: String,
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub headers: Map<String, Value>,
    /// The message: for a function's DLQ, the event record (payload, attempts, last_error,
    /// condition, timestamps); for a trigger's, the original body (JSON if it is JSON).
    pub body: Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeadLetterPage {
    /// How many messages the queue holds in all.
    pub total: u64,
    pub messages: Vec<DeadLetter>,
}

impl From<Message> for DeadLetter {
    fn from(m: Message) -> Self {
        let body = serde_json::from_slice(&m.body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&m.body).into_owned()));
        DeadLetter { id: m.id, headers: m.headers, body }
    }
}

impl Invoker {
    pub async fn function_dead_letters(&self, function: &str, limit: usize) -> Result<DeadLetterPage, InvokerError> {
        self.lookup(function)?;
        self.browse_dead_letters(&QueueRef::function_dlq(function), limit).await
    }

    pub async fn function_dead_letter(&self, function: &str, id: &str) -> Result<DeadLetter, InvokerError> {
        self.lookup(function)?;
        self.find_dead_letter(&QueueRef::function_dlq(function), id).await
    }

    /// Sends dead-lettered events (one, or all for `None`) back to the function with a fresh
    /// retry budget and age. Returns how many went back; an unknown id is `NotFound`.
    pub async fn redrive_function(&self, function: &str, id: Option<&str>) -> Result<u64, InvokerError> {
        self.lookup(function)?;
        let rewrite = |m: Message| match Event::from_message(&m) {
            Ok(mut event) => {
                event.attempts = 0;
                event.redrives += 1;
                event.accepted_ms = now_ms();
                event.condition = None;
                event.dead_lettered_ms = None;
                event.last_error = None;
                self.inner.status.record(InvocationStatus::of(&event, InvocationState::Queued));
                event.to_message()
            }
            Err(_) => m,
        };
        let dlq = QueueRef::function_dlq(function);
        self.transfer_dead_letters(&dlq, id, &QueueRef::function(function), &rewrite).await
    }

    pub(crate) async fn browse_dead_letters(&self, dlq: &QueueRef, limit: usize) -> Result<DeadLetterPage, InvokerError> {
        let (messages, total) = self.inner.broker.browse(dlq, limit.min(MAX_BROWSE)).await.map_err(InvokerError::Queue)?;
        Ok(DeadLetterPage { total, messages: messages.into_iter().map(DeadLetter::from).collect() })
    }

    pub(crate) async fn find_dead_letter(&self, dlq: &QueueRef, id: &str) -> Result<DeadLetter, InvokerError> {
        let (messages, _) = self.inner.broker.browse(dlq, MAX_BROWSE).await.map_err(InvokerError::Queue)?;
        messages
            .into_iter()
            .find(|m| m.id == id)
            .map(DeadLetter::from)
            .ok_or_else(|| InvokerError::UnknownResource(format!("no message {id} in {}", dlq.name())))
    }

    pub(crate) async fn transfer_dead_letters(
        &self,
        dlq: &QueueRef,
        id: Option<&str>,
        to: &QueueRef,
        rewrite: Rewrite<'_>,
    ) -> Result<u64, InvokerError> {
        let moved = self.inner.broker.transfer(dlq, id, to, rewrite).await.map_err(InvokerError::Queue)?;
        if let (Some(id), 0) = (id, moved) {
            return Err(InvokerError::UnknownResource(format!("no message {id} in {}", dlq.name())));
        }
        Ok(moved)
    }
}
