//! Accepting an asynchronous invocation and looking it up later.

use super::callback;
use super::context::Context;
use super::event::Event;
use crate::error::InvokerError;
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
        return Err(InvokerError::TooLarge(format!("Request must be smaller than {MAX_ASYNC_PAYLOAD} bytes for the InvokeAsync operation")));
    }
    let payload = if payload.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let text = std::str::from_utf8(&payload).map_err(|_| InvokerError::invalid("Could not parse request body into json: not UTF-8"))?;
        if nesting(text) > MAX_NESTING {
            return Err(InvokerError::invalid(format!("Could not parse request body into json: nested deeper than {MAX_NESTING} levels")));
        }
        Some(RawValue::from_string(text.to_string()).map_err(|e| InvokerError::invalid(format!("Could not parse request body into json: {e}")))?)
    };
    if let Some(url) = &callback_url {
        callback::check(url, &ctx.callback_policy).await?;
    }
    // Time-ordered (UUIDv7): status records are keyed by it, so they are written at the end of
    // the tree and expire from its start.
    Ok(Event::accepted(uuid::Uuid::now_v7().to_string(), function.to_string(), version, payload, callback_url))
}

/// How deep an event's JSON may nest: the status of an event is shown (and destination
/// records read) as JSON trees, whose parsers stop at 128 levels.
const MAX_NESTING: usize = 128;

/// The deepest nesting of arrays and objects in `json` (brackets inside strings do not count).
fn nesting(json: &str) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for byte in json.bytes() {
        match (in_string, escaped, byte) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (true, false, b'"') => in_string = false,
            (true, false, _) => {}
            (false, _, b'"') => in_string = true,
            (false, _, b'[' | b'{') => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            (false, _, b']' | b'}') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
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

#[cfg(test)]
mod tests {
    use super::nesting;

    #[test]
    fn nesting_counts_brackets_outside_strings() {
        assert_eq!(nesting("1"), 0);
        assert_eq!(nesting(r#"{"a":[1,{"b":2}]}"#), 3);
        assert_eq!(nesting(r#"{"a":"[[[[\"]]]"}"#), 1);
        assert_eq!(nesting(&format!("{}{}", "[".repeat(129), "]".repeat(129))), 129);
    }
}
