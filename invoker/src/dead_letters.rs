//! Reading and moving what sits in a dead-letter queue, the same for a function's events and a
//! trigger's messages.

use crate::error::InvokerError;
use skiff_api::{DeadLetter, DeadLetterPage};
use skiff_state::queue::{Message, Queue, QueueRef, Rewrite};

/// Browsing stops after this many messages, so a huge DLQ cannot make a request unbounded.
pub(crate) const MAX_BROWSE: usize = 10_000;

fn view(m: Message) -> DeadLetter {
    DeadLetter::from_parts(m.id, m.headers, &m.body)
}

pub(crate) async fn browse(queue: &dyn Queue, dlq: &QueueRef, limit: usize) -> Result<DeadLetterPage, InvokerError> {
    let browsed = queue.browse(dlq, limit.min(MAX_BROWSE)).await?;
    Ok(DeadLetterPage { total: browsed.total, messages: browsed.messages.into_iter().map(view).collect() })
}

pub(crate) async fn find(queue: &dyn Queue, dlq: &QueueRef, id: &str) -> Result<DeadLetter, InvokerError> {
    let browsed = queue.browse(dlq, MAX_BROWSE).await?;
    browsed.messages.into_iter().find(|m| m.id == id).map(view).ok_or_else(|| InvokerError::UnknownResource(format!("no message {id} in {}", dlq.name())))
}

/// Moves one message (or all) from `dlq` to `to`; an unknown id is `UnknownResource`.
pub(crate) async fn transfer(queue: &dyn Queue, dlq: &QueueRef, id: Option<&str>, to: &QueueRef, rewrite: Rewrite<'_>) -> Result<u64, InvokerError> {
    let moved = queue.transfer(dlq, id, to, rewrite).await?;
    if let (Some(id), 0) = (id, moved) {
        return Err(InvokerError::UnknownResource(format!("no message {id} in {}", dlq.name())));
    }
    Ok(moved)
}
