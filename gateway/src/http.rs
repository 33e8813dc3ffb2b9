//! Small HTTP helpers shared by the route handlers.

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use std::convert::Infallible;

/// Response bodies can fail mid-stream (a proxied service copy going away), so the error is
/// boxed; hyper then aborts the response instead of ending it as if complete.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub(crate) type Body = BoxBody<Bytes, BoxError>;
pub(crate) type Resp = Response<Body>;

pub(crate) fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).map_err(|never: Infallible| match never {}).boxed()
}

pub(crate) fn empty(status: StatusCode) -> Resp {
    let mut resp = Response::new(full(Bytes::new()));
    *resp.status_mut() = status;
    resp
}

pub(crate) fn json(status: StatusCode, value: &impl serde::Serialize) -> Resp {
    let body = serde_json::to_vec(value).expect("serialising a response");
    bytes_response(status, "application/json", body)
}

pub(crate) fn bytes_response(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Resp {
    let mut resp = Response::new(full(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// Why a request body could not be read.
pub(crate) enum BodyError {
    TooLarge,
    Io(String),
}

/// Reads the whole body, refusing more than `limit` bytes without buffering past it.
pub(crate) async fn read_body(body: Incoming, limit: usize) -> Result<Bytes, BodyError> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(BodyError::TooLarge),
        Err(e) => Err(BodyError::Io(e.to_string())),
    }
}

/// Reads a JSON body of type `T` of at most `limit` bytes, or answers why not; `what` names it
/// in the error ("trigger request" → "invalid trigger request: ...").
pub(crate) async fn read_json<T: serde::de::DeserializeOwned>(
    req: hyper::Request<Incoming>,
    limit: usize,
    what: &str,
) -> Result<T, Resp> {
    use crate::errors::AwsError;
    let bytes = match read_body(req.into_body(), limit).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => return Err(AwsError::RequestTooLarge.response(format!("{what} too large"))),
        Err(BodyError::Io(e)) => return Err(AwsError::InvalidRequestContent.response(e)),
    };
    serde_json::from_slice(&bytes).map_err(|e| AwsError::InvalidRequestContent.response(format!("invalid {what}: {e}")))
}

/// Parses `a=1&b=2` into decoded pairs, in order.
pub(crate) fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().into_owned()
    };
    query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

pub(crate) fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query_pairs(query).into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}
