//! One invocation of a `wasi:http/proxy` component: the call becomes an HTTP request handed to
//! the component's `incoming-handler`, and its response becomes the result.
//!
//! - A function-URL event (payload format 2.0, what `/fn/NAME/...` sends; also when it comes
//!   through the Invoke API) becomes the request it describes, and the response becomes the
//!   `{statusCode, headers, cookies, body, isBase64Encoded}` result that the URL route turns back
//!   into HTTP.
//! - Any other event (the Invoke API, async events, queue triggers) is `POST /` with the event as
//!   its body; the response body is the result, and a 5xx response is a function error
//!   (`Runtime.Unhandled`, with the status and the body's start in the message).
//!
//! Bodies are buffered whole both ways (at most [`MAX_RESPONSE_BYTES`] out), as for every other
//! function.

use super::linking::{HttpState, NoOutgoingRequests};
use super::run::{arm_limits, classify, with_deadline, Ended, Prepared};
use super::warm::WarmPool;
use std::sync::Arc;
use crate::{ErrorType, Execution, FunctionError, Invocation, Outcome, WorkerError};
use crate::{MAX_LOG_BYTES, MAX_RESPONSE_BYTES};
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use serde_json::{json, Map, Value};
use std::time::{Duration, Instant};
use wasmtime::component::ResourceTable;
use wasmtime::Store;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::WasiCtxBuilder;
use hyper::header::HeaderValue;
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, Scheme};
use wasmtime_wasi_http::p2::bindings::{Proxy, ProxyPre};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpView};

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

/// One instance of a component with its store: made for a call, and kept for the next one when
/// the function opts into reuse.
pub(crate) struct HttpInstance {
    store: Store<HttpState>,
    /// `None` until the first call instantiates it (inside that call's limits).
    proxy: Option<Proxy>,
    /// The instance's stdout and stderr; each call's log is what it added.
    logs: MemoryOutputPipe,
    logged: usize,
}

/// A reused instance's log pipe holds this many calls' worth of log: one is retired once less
/// than a call's worth is left.
const LOG_CALLS_PER_PIPE: usize = 4;

impl HttpInstance {
    /// A new instance's store; one that may be `reused` gets room for several calls' logs.
    fn new(function: &Prepared, request_id: &str, reused: bool) -> Self {
        let capacity = if reused { LOG_CALLS_PER_PIPE * MAX_LOG_BYTES } else { MAX_LOG_BYTES };
        let logs = MemoryOutputPipe::new(capacity);
        let mut wasi = WasiCtxBuilder::new();
        // A reused instance keeps the environment of the call that made it: the request id of
        // each call is in its `x-amzn-requestid` header.
        wasi.stdout(logs.clone()).stderr(logs.clone()).envs(&function.env).env("AWS_LAMBDA_REQUEST_ID", request_id);
        let state = HttpState { ctx: wasi.build(), http: WasiHttpCtx::new(), table: ResourceTable::new(), cap: function.new_cap(), hooks: NoOutgoingRequests };
        Self { store: Store::new(&function.engine, state), proxy: None, logs, logged: 0 }
    }

    /// Whether another call's log still fits in its pipe.
    fn has_log_room(&self) -> bool {
        self.logged <= (LOG_CALLS_PER_PIPE - 1) * MAX_LOG_BYTES
    }
}

/// Calls the component with `invocation`, on an instance from `warm` when the function reuses
/// them (given back there after a clean call), else on a fresh one.
pub(crate) async fn execute(
    function: &Prepared,
    pre: &ProxyPre<HttpState>,
    warm: Option<&Arc<WarmPool<HttpInstance>>>,
    invocation: Invocation,
    cold_init: Option<Duration>,
) -> Result<Execution, WorkerError> {
    let started = Instant::now();
    let (mut request, shape) = match request_of(&invocation.payload) {
        Ok(parsed) => parsed,
        Err(why) => {
            let outcome = Outcome::Error(FunctionError::new(ErrorType::Unhandled, why));
            return Ok(Execution { outcome, logs: Bytes::new(), duration: started.elapsed(), init_duration: cold_init, max_memory_bytes: 0 });
        }
    };
    if let Ok(id) = HeaderValue::from_str(&invocation.request_id) {
        request.headers_mut().insert(REQUEST_ID_HEADER, id);
    }
    let (mut instance, calls) = match warm.and_then(|w| w.take()) {
        Some(taken) => taken,
        None => (HttpInstance::new(function, &invocation.request_id, warm.is_some()), 0),
    };
    let (ended, answer, instantiated_in) = serve(function, pre, &mut instance, request).await.map_err(|e| WorkerError::Internal(format!("handing the request to the component: {e:#}")))?;
    let logs = instance.logs.contents().slice(instance.logged..);
    instance.logged += logs.len();
    let cap = &instance.store.data().cap;
    let (refused, peak) = (cap.refused(), cap.peak_bytes() as u64);
    let clean = matches!((&ended, &answer), (Ended::Returned, Answer::Response { .. })) && !refused;
    let outcome = match (ended, answer) {
        (Ended::Returned, Answer::Response { status, headers, body }) => result_of(shape, status, &headers, body),
        (Ended::Returned, Answer::TooLarge) => Outcome::Error(FunctionError::response_too_large()),
        (Ended::Returned, Answer::Refused(why)) => Outcome::Error(FunctionError::new(ErrorType::Unhandled, why)),
        (Ended::Returned, Answer::None) => Outcome::Error(FunctionError::new(ErrorType::Unhandled, "the handler returned without setting a response")),
        (ended, _) => classify(ended, function, Bytes::new(), &logs, refused),
    };
    if let Some(warm) = warm {
        let keep = clean && instance.has_log_room();
        warm.put(instance, calls + 1, keep);
    }
    Ok(Execution {
        outcome,
        logs,
        duration: started.elapsed(),
        init_duration: cold_init.map(|load| load + instantiated_in),
        max_memory_bytes: peak,
    })
}

/// The header each request carries the invocation's id in.
const REQUEST_ID_HEADER: &str = "x-amzn-requestid";

/// Hands `request` to `instance` (instantiating it first if it is new) within the call's
/// limits, reading the response body while the guest writes it. Returns how the guest run
/// ended, what it answered, and how long instantiating took (zero for a warm instance).
async fn serve(
    function: &Prepared,
    pre: &ProxyPre<HttpState>,
    instance: &mut HttpInstance,
    request: hyper::Request<Full<Bytes>>,
) -> wasmtime::Result<(Ended, Answer, Duration)> {
    let started = Instant::now();
    let (enforce, timeout) = (function.enforce_limits, function.spec.timeout);
    let store = &mut instance.store;
    arm_limits(store, enforce, timeout, |s| &mut s.cap);
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let request = store.data_mut().http().new_incoming_request(Scheme::Http, request)?;
    let outparam = store.data_mut().http().new_response_outparam(sender)?;
    let mut instantiated_in = Duration::ZERO;
    let proxy = &mut instance.proxy;
    let run = async {
        if proxy.is_none() {
            *proxy = Some(pre.instantiate_async(&mut *store).await?);
            instantiated_in = started.elapsed();
        }
        let handler = proxy.as_ref().expect("instantiated above").wasi_http_incoming_handler();
        handler.call_handle(&mut *store, request, outparam).await
    };
    // The body is given as long as the call may take.
    let answer = async { tokio::time::timeout(timeout, read_answer(receiver)).await.unwrap_or(Answer::None) };
    let (ended, answer) = tokio::join!(with_deadline(enforce, timeout, run), answer);
    Ok((ended, answer, instantiated_in))
}

async fn read_answer(receiver: tokio::sync::oneshot::Receiver<Result<hyper::Response<HyperOutgoingBody>, ErrorCode>>) -> Answer {
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
    use hyper::header::HeaderName;

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
        assert_eq!(url, json!({ "statusCode": 201, "headers": { "content-type": "text/plain", "x-many": "1, 2" }, "cookies": ["a=1", "b=2"], "body": "made", "isBase64Encoded": false }));
        let binary = body_of(result_of(Shape::Url, 200, &hyper::HeaderMap::new(), Bytes::from_static(&[0xff, 0])));
        assert_eq!((binary["body"].as_str(), binary["isBase64Encoded"].as_bool()), (Some("/wA="), Some(true)));
        assert!(matches!(result_of(Shape::Event, 404, &headers, Bytes::from_static(b"x")), Outcome::Success(b) if &b[..] == b"x"));
        match result_of(Shape::Event, 503, &headers, Bytes::from_static(b"down")) {
            Outcome::Error(e) => assert!(e.message.contains("HTTP 503: down"), "{}", e.message),
            Outcome::Success(_) => panic!("a 5xx is a function error"),
        }
    }
}
