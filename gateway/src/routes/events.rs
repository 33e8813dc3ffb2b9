//! The native API for asynchronous invocations and dead letters (documented in `docs/api.md`):
//!
//! - `POST /v1/functions/{name}/events` — accept an event (202 `{"request_id"}`), with an optional
//!   `X-Callback-Url`;
//! - `GET /v1/invocations/{id}` — its status;
//! - `GET /v1/functions/{name}/dlq[?limit=N]`, `GET .../dlq/{id}` — dead letters;
//! - `POST .../dlq/redrive` (all), `POST .../dlq/{id}/redrive` (one).
//!
//! The same dead-letter routes exist under `/v1/triggers/{id}/dlq`.

use crate::body::{read_body, BodyError};
use crate::errors::{error_response, reply, AwsError};
use crate::http::{json, Resp};
use crate::route::Route;
use crate::routes::counts::DEAD_LETTER_LIMIT;
use crate::routes::lambda::check_json;
use hyper::{Request, StatusCode};
use skiff_api::invocation::MAX_ASYNC_PAYLOAD;
use skiff_invoker::Events;

pub(crate) async fn handle(events: &Events, route: Route<'_>, query: Option<&str>, req: Request<crate::http::ReqBody>) -> Resp {
    match route {
        Route::AcceptEvent { function } => accept(events, function, req).await,
        Route::InvocationStatus { id } => reply(StatusCode::OK, events.status(id).await),
        Route::FunctionDeadLetters { function } => match DEAD_LETTER_LIMIT.read(query) {
            Ok(limit) => reply(StatusCode::OK, events.dead_letters(function, limit).await),
            Err(refused) => refused,
        },
        Route::FunctionDeadLetter { function, id } => reply(StatusCode::OK, events.dead_letter(function, id).await),
        Route::RedriveFunction { function, id } => redriven(events.redrive(function, id).await),
        other => unreachable!("not an events route: {other:?}"),
    }
}

async fn accept(events: &Events, function: &str, req: Request<crate::http::ReqBody>) -> Resp {
    let callback = match req.headers().get("x-callback-url").map(|v| v.to_str()) {
        None => None,
        Some(Ok(url)) => Some(url.to_owned()),
        Some(Err(_)) => return AwsError::InvalidParameterValue.response("X-Callback-Url must be a URL in visible ASCII"),
    };
    let payload = match read_body(req.into_body(), MAX_ASYNC_PAYLOAD).await {
        Ok(body) => body,
        Err(BodyError::TooLarge) => {
            return AwsError::RequestTooLarge.response(format!("Request must be smaller than {MAX_ASYNC_PAYLOAD} bytes for an asynchronous invocation"))
        }
        Err(BodyError::Io(e)) => return AwsError::InvalidRequestContent.response(e),
    };
    if let Err(e) = check_json(&payload) {
        return AwsError::InvalidRequestContent.response(format!("Could not parse request body into json: {e}"));
    }
    match events.enqueue(function, skiff_api::VersionRef::Latest, payload, callback).await {
        Ok(request_id) => json(StatusCode::ACCEPTED, &serde_json::json!({ "request_id": request_id })),
        Err(e) => error_response(&e),
    }
}

pub(crate) fn redriven<E: skiff_api::error::Kinded + std::fmt::Display>(result: Result<u64, E>) -> Resp {
    reply(StatusCode::OK, result.map(|n| serde_json::json!({ "redriven": n })))
}
