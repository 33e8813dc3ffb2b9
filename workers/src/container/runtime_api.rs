//! The Lambda Runtime API (2018-06-01), served to one container's runtime.
//!
//! Routes, status codes and headers follow Lambda's own endpoint, so unmodified runtime clients
//! work: `GET /runtime/invocation/next` long-polls for the next event and carries the
//! `Lambda-Runtime-*` headers; `POST .../invocation/{id}/response` and `.../error` complete it
//! (202); `POST /runtime/init/error` reports a failed init (202). A response over the 6 MB
//! synchronous limit gets 413 and fails the invocation; an unknown or finished request id gets
//! 400 `InvalidRequestID`.

use super::link::{Job, Link, Reply, Status};
use crate::MAX_RESPONSE_BYTES;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::sync::Arc;
use tokio::net::UnixStream;

const PREFIX: &str = "/2018-06-01/runtime/";
/// Error documents are small; this bounds what a runtime can make us buffer.
const MAX_ERROR_BYTES: usize = 1 << 20;

type Resp = Response<Full<Bytes>>;

pub(crate) async fn serve(link: Arc<Link>, stream: UnixStream) {
    let service = hyper::service::service_fn(move |req| {
        let link = link.clone();
        async move { Ok::<_, Infallible>(route(&link, req).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
}

/// What a runtime asks for, parsed from the request line alone (no state, no body), so the
/// parsing can be tested and fuzzed without a container behind it.
#[derive(Debug, PartialEq)]
enum RuntimeCall {
    Next,
    Response { id: String },
    Error { id: String },
    InitError,
}

impl RuntimeCall {
    /// `None` for anything that is not one of the Runtime API's routes.
    fn parse(method: &Method, path: &str) -> Option<Self> {
        let segments: Vec<&str> = path.strip_prefix(PREFIX)?.split('/').collect();
        match (method, segments.as_slice()) {
            (&Method::GET, ["invocation", "next"]) => Some(Self::Next),
            (&Method::POST, ["invocation", id, "response"]) => Some(Self::Response { id: id.to_string() }),
            (&Method::POST, ["invocation", id, "error"]) => Some(Self::Error { id: id.to_string() }),
            (&Method::POST, ["init", "error"]) => Some(Self::InitError),
            _ => None,
        }
    }
}

async fn route(link: &Arc<Link>, req: Request<Incoming>) -> Resp {
    let Some(call) = RuntimeCall::parse(req.method(), req.uri().path()) else {
        return error(StatusCode::NOT_FOUND, "NotFound", "unknown Runtime API route");
    };
    match call {
        RuntimeCall::Next => next(link).await,
        RuntimeCall::Response { id } => match Limited::new(req.into_body(), MAX_RESPONSE_BYTES).collect().await {
            Ok(body) => complete(link, &id, Reply::Response(body.to_bytes())),
            Err(_) => {
                complete(link, &id, Reply::TooLarge);
                error(StatusCode::PAYLOAD_TOO_LARGE, "RequestEntityTooLarge", &format!("Exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."))
            }
        },
        RuntimeCall::Error { id } => {
            let error_type = header(&req, "lambda-runtime-function-error-type");
            match Limited::new(req.into_body(), MAX_ERROR_BYTES).collect().await {
                Ok(body) => complete(link, &id, Reply::Error { document: body.to_bytes(), error_type }),
                Err(_) => error(StatusCode::PAYLOAD_TOO_LARGE, "RequestEntityTooLarge", "error document too large"),
            }
        }
        RuntimeCall::InitError => {
            let body = Limited::new(req.into_body(), MAX_ERROR_BYTES).collect().await;
            let document = body.map(|b| b.to_bytes()).unwrap_or_default();
            *link.init_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(document);
            link.status.send_if_modified(|s| {
                let starting = matches!(s, Status::Starting);
                if starting {
                    *s = Status::InitFailed;
                }
                starting
            });
            accepted()
        }
    }
}

/// Long-polls for the next invocation. The first call means init is over.
async fn next(link: &Arc<Link>) -> Resp {
    link.status.send_if_modified(|s| {
        let starting = matches!(s, Status::Starting);
        if starting {
            *s = Status::Ready;
        }
        starting
    });
    let job: Option<Job> = link.jobs.lock().await.recv().await;
    let Some(job) = job else {
        // The instance is being retired; the runtime will be killed with its container.
        return error(StatusCode::GONE, "Retired", "this execution environment is shutting down");
    };
    *link.current.lock().unwrap_or_else(|p| p.into_inner()) = Some((job.request_id.clone(), job.reply));
    let mut resp = Response::new(Full::new(job.payload));
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    for (name, value) in [
        ("lambda-runtime-aws-request-id", job.request_id.as_str()),
        ("lambda-runtime-deadline-ms", &job.deadline_ms.to_string()),
        ("lambda-runtime-invoked-function-arn", &link.arn),
        ("lambda-runtime-trace-id", &job.trace_id),
    ] {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(name, v);
        }
    }
    resp
}

fn complete(link: &Link, id: &str, reply: Reply) -> Resp {
    let current = {
        let mut current = link.current.lock().unwrap_or_else(|p| p.into_inner());
        match current.as_ref() {
            Some((cur, _)) if cur == id => current.take(),
            _ => None,
        }
    };
    match current {
        Some((_, tx)) => {
            let _ = tx.send(reply);
            accepted()
        }
        None => error(StatusCode::BAD_REQUEST, "InvalidRequestID", "Invalid request ID"),
    }
}

fn header(req: &Request<Incoming>, name: &str) -> Option<String> {
    req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

fn accepted() -> Resp {
    json(StatusCode::ACCEPTED, r#"{"status":"OK"}"#.into())
}

fn error(status: StatusCode, kind: &str, message: &str) -> Resp {
    json(status, serde_json::json!({ "errorType": kind, "errorMessage": message }).to_string())
}

fn json(status: StatusCode, body: String) -> Resp {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

#[cfg(test)]
mod fuzz {
    use super::*;

    /// Input: `METHOD path`, as a runtime in a container may send it.
    #[test]
    fn runtime_api_requests_never_panic_and_ids_are_one_segment() {
        skiff_fuzz::run("runtime_api", skiff_fuzz::ROUNDS, |input| {
            let line = String::from_utf8_lossy(input);
            let (method, path) = line.split_once(' ').unwrap_or(("GET", &line));
            let method = Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET);
            if let Some(RuntimeCall::Response { id } | RuntimeCall::Error { id }) = RuntimeCall::parse(&method, path) {
                assert!(!id.contains('/'), "{id}");
            }
        });
    }

    #[test]
    fn the_runtime_api_routes_parse() {
        let parse = |m: &Method, p: &str| RuntimeCall::parse(m, p);
        assert_eq!(parse(&Method::GET, "/2018-06-01/runtime/invocation/next"), Some(RuntimeCall::Next));
        assert_eq!(parse(&Method::POST, "/2018-06-01/runtime/invocation/abc/response"), Some(RuntimeCall::Response { id: "abc".into() }));
        assert_eq!(parse(&Method::POST, "/2018-06-01/runtime/invocation/abc/error"), Some(RuntimeCall::Error { id: "abc".into() }));
        assert_eq!(parse(&Method::POST, "/2018-06-01/runtime/init/error"), Some(RuntimeCall::InitError));
        assert_eq!(parse(&Method::POST, "/2018-06-01/runtime/invocation/next"), None);
        assert_eq!(parse(&Method::GET, "/runtime/invocation/next"), None);
    }
}
