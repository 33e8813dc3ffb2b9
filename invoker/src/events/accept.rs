//! Accepting an asynchronous invocation and looking it up later.

use super::event::Event;
use super::callback;
use super::context::Context;
use crate::InvokerError;
use bytes::Bytes;
use serde_json::value::RawValue;
use skiff_api::invocation::MAX_ASYNC_PAYLOAD;
use skiff_api::{InvocationState, InvocationStatus, VersionRef};

/// See [`Events::enqueue`](super::Events::enqueue).
pub(super) async fn enqueue(ctx: &Context, function: &str, version: VersionRef, payload: Bytes, callback_url: Option<String>) -> Result<String, InvokerError> {
    let event = admit(ctx, function, version, payload, callback_url).await?;
    publish(ctx, event).await
}

/// Checks what a caller sent and makes it an event; nothing is stored yet.
pub(super) async fn admit(ctx: &Context, function: &str, version: VersionRef, payload: Bytes, callback_url: Option<String>) -> Result<Event, InvokerError> {
    ctx.registry.lookup_version(function, version)?;
    if payload.len() > MAX_ASYNC_PAYLOAD {
        return Err(InvokerError::TooLarge(format!(
            "Request must be smaller than {MAX_ASYNC_PAYLOAD} bytes for the InvokeAsync operation"
        )));
    }
    let payload = if payload.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let text = std::str::from_utf8(&payload)
            .map_err(|_| InvokerError::invalid("Could not parse request body into json: not UTF-8"))?;
        Some(
            RawValue::from_string(text.to_string())
                .map_err(|e| InvokerError::invalid(format!("Could not parse request body into json: {e}")))?,
        )
    };
    if let Some(url) = &callback_url {
        callback::check(url, &ctx.callback_policy).await?;
    }
    // Time-ordered (UUIDv7): status records are keyed by it, so they are written at the end of
    // the tree and expire from its start.
    Ok(Event::accepted(uuid::Uuid::now_v7().to_string(), function.to_string(), version, payload, callback_url))
}

/// Makes an admitted event durable on its function's queue and answers its request id.
pub(super) async fn publish(ctx: &Context, event: Event) -> Result<String, InvokerError> {
    // The record goes first (see `status`): a consumer may finish the event before the
    // publish call even returns.
    ctx.status.record(event.status(InvocationState::Queued));
    let (request_id, function) = (event.request_id.clone(), event.function.clone());
    if let Err(e) = ctx.coalescer.publish(&ctx.queue, event).await {
        ctx.status.forget(&request_id);
        return Err(InvokerError::Queue(e));
    }
    ctx.metrics.events_accepted.with_label_values(&[&function]).inc();
    Ok(request_id)
}

pub(super) async fn status(ctx: &Context, request_id: &str) -> Result<InvocationStatus, InvokerError> {
    ctx.status
        .get(request_id)
        .await?
        .ok_or_else(|| InvokerError::UnknownResource(format!("no asynchronous invocation {request_id} (unknown, or past retention)")))
}
