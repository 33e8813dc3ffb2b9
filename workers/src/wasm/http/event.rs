//! An invocation's payload as an HTTP request, and the response as its result, both buffered.
//!
//! - A function-URL event (payload format 2.0; what `/fn/NAME/...` sends for a function that
//!   takes events, and what a caller may send through the Invoke API) becomes the request it
//!   describes, and the response becomes the `{statusCode, headers, cookies, body,
//!   isBase64Encoded}` result.
//! - Any other event (the Invoke API, async events, queue triggers) is `POST /` with the event as
//!   its body; the response body is the result, and a 5xx response is a function error
//!   (`Runtime.Unhandled`, with the status and the body's start in the message).
//!
//! The response body is read whole, up to [`MAX_RESPONSE_BYTES`].

use super::super::run::{classify, Ended};
use super::{execution, Component, Outparam};
use crate::{ErrorType, Execution, FunctionError, Invocation, Outcome, WorkerError, MAX_RESPONSE_BYTES};
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use serde_json::{json, Map, Value};
use std::time::{Duration, Instant};

/// How the call reached the function, which decides the shape of its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// A function-URL event: the result describes an HTTP response.
    Url,
    /// Any other event: the result is the response body.
    Event,
}

/// The authority requests carry when the event names no `host`.
const DEFAULT_AUTHORITY: &str = "localhost";
/// How much of a 5xx response's body goes into the error message.
const BODY_IN_ERROR: usize = 1024;

/// The HTTP request an invocation's payload stands for.
pub(crate) fn request_of(payload: &Bytes) -> Result<(hyper::Request<Full<Bytes>>, Shape), String> {
    let url_event = serde_json::from_slice::<Value>(payload).ok().filter(is_url_event);
    let Some(event) = url_event else {
        let request = hyper::Request::post(format!("http://{DEFAULT_AUTHORITY}/"))
            .header("content-type", "application/json")
            .body(Full::new(payload.clone()))
            .map_err(|e| e.to_string())?;
        return Ok((request, Shape::Event));
    };
    let text = |v: &Value| v.as_str().map(str::to_string);
    let method = text(&event["requestContext"]["http"]["method"]).unwrap_or_default();
    let path = text(&event["rawPath"]).filter(|p| p.starts_with('/')).unwrap_or_else(|| "/".into());
    let query = text(&event["rawQueryString"]).filter(|q| !q.is_empty());
    let host = event["headers"]["host"].as_str().unwrap_or(DEFAULT_AUTHORITY);
    let uri = match query {
        Some(q) => format!("http://{host}{path}?{q}"),
        None => format!("http://{host}{path}"),
    };
    let mut builder = hyper::Request::builder().method(method.as_str()).uri(uri);
    for (name, value) in event["headers"].as_object().into_iter().flatten() {
        if let Some(value) = value.as_str() {
            builder = builder.header(name.as_str(), value);
        }
    }
    let cookies: Vec<&str> = event["cookies"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    if !cookies.is_empty() {
        builder = builder.header("cookie", cookies.join("; "));
    }
    let body = match (event["body"].as_str(), event["isBase64Encoded"].as_bool().unwrap_or(false)) {
        (None, _) => Bytes::new(),
        (Some(b64), true) => Bytes::from(base64::engine::general_purpose::STANDARD.decode(b64).map_err(|e| format!("the event's body is not base64: {e}"))?),
        (Some(text), false) => Bytes::from(text.to_string()),
    };
    let request = builder.body(Full::new(body)).map_err(|e| format!("the event is not a valid HTTP request: {e}"))?;
    Ok((request, Shape::Url))
}

/// Whether `event` is a function-URL event (payload format 2.0).
fn is_url_event(event: &Value) -> bool {
    event["version"] == "2.0" && event["rawPath"].is_string() && event["requestContext"]["http"]["method"].is_string()
}

/// The function's result for a response of `status` with `headers` and `body`.
pub(crate) fn result_of(shape: Shape, status: u16, headers: &hyper::HeaderMap, body: Bytes) -> Outcome {
    match shape {
        Shape::Event if status >= 500 => {
            let start = String::from_utf8_lossy(&body[..body.len().min(BODY_IN_ERROR)]).into_owned();
            Outcome::Error(FunctionError::new(ErrorType::Unhandled, format!("the handler answered HTTP {status}: {start}")))
        }
        Shape::Event => Outcome::Success(body),
        Shape::Url => {
            let mut fields = Map::new();
            let mut cookies = Vec::new();
            for name in headers.keys() {
                let values = headers.get_all(name).iter().map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
                if name == hyper::header::SET_COOKIE {
                    cookies.extend(values);
                } else {
                    fields.insert(name.to_string(), values.collect::<Vec<_>>().join(", ").into());
                }
            }
            let (body, encoded) = match std::str::from_utf8(&body) {
                Ok(text) => (text.to_string(), false),
                Err(_) => (base64::engine::general_purpose::STANDARD.encode(&body), true),
            };
            let result = json!({ "statusCode": status, "headers": fields, "cookies": cookies, "body": body, "isBase64Encoded": encoded });
            Outcome::Success(Bytes::from(result.to_string()))
        }
    }
}

/// What the component answered: a response, a `wasi:http` error code, or nothing.
enum Answer {
    Response { status: u16, headers: hyper::HeaderMap, body: Bytes },
    TooLarge,
    Refused(String),
    None,
}

/// Calls the component with `invocation`, on an instance from `warm` when the function reuses
/// them (given back there after a clean call), else on a fresh one.
pub(crate) async fn execute(component: Component<'_>, invocation: Invocation, cold_init: Option<Duration>) -> Result<Execution, WorkerError> {
    let started = Instant::now();
    let (request, shape) = match request_of(&invocation.payload) {
        Ok(parsed) => parsed,
        Err(why) => {
            let outcome = Outcome::Error(FunctionError::new(ErrorType::Unhandled, why));
            return Ok(execution(started, cold_init, Duration::ZERO, outcome, Bytes::new(), 0));
        }
    };
    let (mut instance, calls) = component.instance(&invocation.request_id).await;
    let cold_init = component.cold_init(calls, cold_init);
    let (ended, answer, instantiated_in) = component.serve(&mut instance, &invocation.request_id, request, read_answer).await?;
    let answer = answer.unwrap_or(Answer::None);
    let logs = instance.take_logs();
    let (refused, peak) = instance.memory();
    let clean = matches!((&ended, &answer), (Ended::Returned, Answer::Response { .. })) && !refused;
    let outcome = match (ended, answer) {
        (Ended::Returned, Answer::Response { status, headers, body }) => result_of(shape, status, &headers, body),
        (Ended::Returned, Answer::TooLarge) => Outcome::Error(FunctionError::response_too_large()),
        (Ended::Returned, Answer::Refused(why)) => Outcome::Error(FunctionError::new(ErrorType::Unhandled, why)),
        (Ended::Returned, Answer::None) => Outcome::Error(FunctionError::new(ErrorType::Unhandled, "the handler returned without setting a response")),
        (ended, _) => classify(ended, component.function, Bytes::new(), &logs, refused),
    };
    component.give_back(instance, calls + 1, clean);
    Ok(execution(started, cold_init, instantiated_in, outcome, logs, peak))
}

async fn read_answer(receiver: Outparam) -> Answer {
    match receiver.await {
        Ok(Ok(response)) => {
            let (parts, body) = response.into_parts();
            match Limited::new(body, MAX_RESPONSE_BYTES).collect().await {
                Ok(body) => Answer::Response { status: parts.status.as_u16(), headers: parts.headers, body: body.to_bytes() },
                Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => Answer::TooLarge,
                Err(e) => Answer::Refused(format!("the response body failed: {e}")),
            }
        }
        Ok(Err(code)) => Answer::Refused(format!("the handler answered with an error: {code:?}")),
        Err(_) => Answer::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::{HeaderName, HeaderValue};

    fn body_of(outcome: Outcome) -> Value {
        match outcome {
            Outcome::Success(bytes) => serde_json::from_slice(&bytes).unwrap(),
            Outcome::Error(e) => panic!("{}", e.message),
        }
    }

    #[test]
    fn a_url_event_becomes_the_request_it_describes() {
        let event = json!({
            "version": "2.0", "rawPath": "/items/7", "rawQueryString": "q=1&r=2",
            "headers": { "host": "example.test", "x-greeting": "hi" }, "cookies": ["a=1", "b=2"],
            "requestContext": { "http": { "method": "PUT" } }, "body": "aGVsbG8=", "isBase64Encoded": true,
        });
        let (request, shape) = request_of(&Bytes::from(event.to_string())).unwrap();
        assert_eq!(shape, Shape::Url);
        assert_eq!((request.method().as_str(), request.uri().to_string()), ("PUT", "http://example.test/items/7?q=1&r=2".into()));
        assert_eq!(request.headers()["x-greeting"], "hi");
        assert_eq!(request.headers()["cookie"], "a=1; b=2");
        let body = futures_util::FutureExt::now_or_never(request.into_body().collect()).unwrap().unwrap().to_bytes();
        assert_eq!(&body[..], b"hello");
    }

    #[test]
    fn any_other_event_is_a_post_of_its_bytes() {
        for payload in [&br#"{"name":"Ada"}"#[..], b"not json", br#"{"version":"2.0"}"#] {
            let (request, shape) = request_of(&Bytes::copy_from_slice(payload)).unwrap();
            assert_eq!((shape, request.method().as_str(), request.uri().path()), (Shape::Event, "POST", "/"));
        }
        let bad = json!({ "version": "2.0", "rawPath": "/", "requestContext": { "http": { "method": "NOT A METHOD" } } });
        assert!(request_of(&Bytes::from(bad.to_string())).unwrap_err().contains("not a valid HTTP request"));
    }

    #[test]
    fn responses_become_url_results_or_event_results() {
        let mut headers = hyper::HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("text/plain"));
        headers.append(hyper::header::SET_COOKIE, HeaderValue::from_static("a=1"));
        headers.append(hyper::header::SET_COOKIE, HeaderValue::from_static("b=2"));
        headers.append(HeaderName::from_static("x-many"), HeaderValue::from_static("1"));
        headers.append(HeaderName::from_static("x-many"), HeaderValue::from_static("2"));
        let url = body_of(result_of(Shape::Url, 201, &headers, Bytes::from_static(b"made")));
        assert_eq!(
            url,
            json!({ "statusCode": 201, "headers": { "content-type": "text/plain", "x-many": "1, 2" }, "cookies": ["a=1", "b=2"], "body": "made", "isBase64Encoded": false })
        );
        let binary = body_of(result_of(Shape::Url, 200, &hyper::HeaderMap::new(), Bytes::from_static(&[0xff, 0])));
        assert_eq!((binary["body"].as_str(), binary["isBase64Encoded"].as_bool()), (Some("/wA="), Some(true)));
        assert!(matches!(result_of(Shape::Event, 404, &headers, Bytes::from_static(b"x")), Outcome::Success(b) if &b[..] == b"x"));
        match result_of(Shape::Event, 503, &headers, Bytes::from_static(b"down")) {
            Outcome::Error(e) => assert!(e.message.contains("HTTP 503: down"), "{}", e.message),
            Outcome::Success(_) => panic!("a 5xx is a function error"),
        }
    }
}
