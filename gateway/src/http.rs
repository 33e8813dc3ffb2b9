//! Small HTTP helpers shared by the route handlers.

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use std::convert::Infallible;

/// Response bodies can fail mid-stream (a proxied service copy going away), so the error is
/// boxed; hyper then aborts the response instead of ending it as if complete.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub(crate) type Body = BoxBody<Bytes, BoxError>;
pub(crate) type Resp = Response<Body>;

/// A request body as the handlers take it: the client's stream as it arrives, or its bytes once
/// a signature check has read them.
pub(crate) type ReqBody = BoxBody<Bytes, RequestBodyError>;

/// Why a request body could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RequestBodyError {
    /// The client's connection failed.
    #[error(transparent)]
    Client(#[from] hyper::Error),
    /// A cluster node that had begun reading the body took it (a walk tries no other node then).
    #[error("the request body went to another node")]
    Taken,
}

/// The client's body, as handlers take it.
pub(crate) fn request_body(body: hyper::body::Incoming) -> ReqBody {
    body.map_err(RequestBodyError::Client).boxed()
}

/// A body already read, as handlers take it.
pub(crate) fn request_bytes(bytes: Bytes) -> ReqBody {
    Full::new(bytes).map_err(|never: Infallible| match never {}).boxed()
}

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

/// Parses `a=1&b=2` into decoded pairs, in order.
pub(crate) fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    let decode = |s: &str| percent_encoding::percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().into_owned();
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

/// A body that keeps `guard` alive until the body has been sent or dropped: whatever the guard
/// counts (a request in flight on a connection, a claim on a service copy) lasts as long as the
/// answer, not just its head.
pub(crate) struct Guarded<B, G> {
    inner: B,
    _guard: G,
}

impl<B, G> Guarded<B, G> {
    pub(crate) fn new(inner: B, guard: G) -> Self {
        Self { inner, _guard: guard }
    }
}

impl<B: hyper::body::Body<Data = Bytes> + Unpin, G: Unpin> hyper::body::Body for Guarded<B, G> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, B::Error>>> {
        std::pin::Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}
