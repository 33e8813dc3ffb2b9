//! A function's dead-letter queue: its events with the last error, the attempt count and why
//! they stopped; listed, inspected and redriven.

use super::context::Context;
use super::event::Event;
use crate::dead_letters;
use crate::error::InvokerError;
use skiff_api::{now_ms, DeadLetter, DeadLetterPage, InvocationState};
use skiff_state::queue::{Message, QueueRef};

pub(super) async fn list(ctx: &Context, function: &str, limit: usize) -> Result<DeadLetterPage, InvokerError> {
    ctx.registry.lookup(function)?;
    dead_letters::browse(&*ctx.queue, &QueueRef::function_dlq(function), limit).await
}

pub(super) async fn get(ctx: &Context, function: &str, id: &str) -> Result<DeadLetter, InvokerError> {
    ctx.registry.lookup(function)?;
    dead_letters::find(&*ctx.queue, &QueueRef::function_dlq(function), id).await
}

pub(super) async fn redrive(ctx: &Context, function: &str, id: Option<&str>) -> Result<u64, InvokerError> {
    ctx.registry.lookup(function)?;
    let rewrite = |m: Message| match Event::from_message(&m) {
        Ok(mut event) => {
            event.attempts = 0;
            event.redrives += 1;
            event.accepted_ms = now_ms();
            event.condition = None;
            event.dead_lettered_ms = None;
            event.last_error = None;
            ctx.status.record(event.status(InvocationState::Queued));
            event.to_message()
        }
        Err(_) => m,
    };
    let dlq = QueueRef::function_dlq(function);
    dead_letters::transfer(&*ctx.queue, &dlq, id, &QueueRef::function(function), &rewrite).await
}
