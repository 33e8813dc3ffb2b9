//! The native API for asynchronous invocations and dead letters (documented in `docs/api.md`):
//!
//! - `POST /v1/functions/{name}/events` — accept an event (202 `{"request_id"}`), with an optional
//!   `X-Callback-Url`;
//! - `GET /v1/invocations/{id}` — its status;
//! - `GET /v1/functions/{name}/dlq[?limit=N]`, `GET .../dlq/{id}` — dead letters;
//! - `POST .../dlq/redrive` (all), `POST .../dlq/{id}/redrive` (one).
//!
//! The same dead-letter routes exist under `/v1/triggers/{id}/dlq`.

use crate::errors::{invoker_error, AwsError};
use crate::http::{json, query_param, read_body, BodyError, Resp};
use crate::invoke_api::check_json;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use skiff_invoker::{DeadLetter, DeadLetterPage, Invoker, InvokerError, MAX_ASYNC_PAYLOAD};

pub(crate) async fn accept(invoker: &Invoker, function: &str, req: Request<Incoming>) -> Resp {
    let callback = req.headers().get("x-callback-url").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let payload = match read_body(req.into_body(), MAX_ASYNC_PAYLOAD).await {
        Ok(body) => body,
        Err(BodyError::TooLarge) => {
            return AwsError::RequestTooLarge
                .response(format!("Request must be smaller than {MAX_ASYNC_PAYLOAD} bytes for an asynchronous invocation"))
        }
        Err(BodyError::Io(e)) => return AwsError::InvalidRequestContent.response(e),
    };
    if let Err(e) = check_json(&payload) {
        return AwsError::InvalidRequestContent.response(format!("Could not parse request body into json: {e}"));
    }
    match invoker.enqueue(function, payload, callback).await {
        Ok(request_id) => json(StatusCode::ACCEPTED, &serde_json::json!({ "request_id": request_id })),
        Err(e) => invoker_error(&e),
    }
}

pub(crate) fn status(invoker: &Invoker, request_id: &str) -> Resp {
    match invoker.invocation_status(request_id) {
        Ok(status) => json(StatusCode::OK, &status),
        Err(e) => invoker_error(&e),
    }
}

pub(crate) fn limit(query: Option<&str>) -> usize {
    query_param(query, "limit").and_then(|l| l.parse().ok()).unwrap_or(100)
}

pub(crate) fn page(result: Result<DeadLetterPage, InvokerError>) -> Resp {
    match result {
        Ok(page) => json(StatusCode::OK, &page),
        Err(e) => invoker_error(&e),
    }
}

pub(crate) fn one(result: Result<DeadLetter, InvokerError>) -> Resp {
    match result {
        Ok(message) => json(StatusCode::OK, &message),
        Err(e) => invoker_error(&e),
    }
}

pub(crate) fn redriven(result: Result<u64, InvokerError>) -> Resp {
    match result {
        Ok(n) => json(StatusCode::OK, &serde_json::json!({ "redriven": n })),
        Err(e) => invoker_error(&e),
    }
}
