//! The native control API under `/v1` (documented in `docs/api.md`): deploy, list, get, delete,
//! and invocation logs.

use crate::errors::{invoker_error, AwsError};
use crate::http::{empty, json, query_param, read_body, BodyError, Resp};
use base64::Engine as _;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use serde::Deserialize;
use skiff_invoker::{DeployRequest, Destination, EventConfigUpdate, Invoker};
use std::collections::BTreeMap;
use tokio::sync::broadcast::error::RecvError;

/// Deploy bodies carry base64 code; this admits an 18 MB component with room to spare.
const MAX_DEPLOY_BODY: usize = 96 * 1024 * 1024;

/// `PUT /v1/functions/{name}` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeployBody {
    /// The Wasm module or component, base64-encoded. Omit to change only configuration.
    wasm_base64: Option<String>,
    /// A container image in the server's Docker engine (exclusive with `wasm_base64`).
    image: Option<String>,
    /// Container functions: give the container a network for outbound calls.
    egress: Option<bool>,
    /// Container functions: containers kept started ahead of demand.
    provisioned: Option<u32>,
    memory_mb: Option<u32>,
    timeout_s: Option<u32>,
    /// A number sets reserved concurrency, `null` clears it, absent keeps it.
    #[serde(default, deserialize_with = "present")]
    concurrency: Option<Option<u32>>,
    env: Option<BTreeMap<String, String>>,
    /// Asynchronous invocation settings; absent fields keep their values.
    #[serde(default)]
    events: EventsBody,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct EventsBody {
    max_retries: Option<u32>,
    max_event_age_s: Option<u32>,
    retry_delay_ms: Option<u32>,
    /// `function:NAME` or `queue:NAME`; `null` clears it.
    #[serde(default, deserialize_with = "present_destination")]
    on_success: Option<Option<String>>,
}

fn present_destination<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// Tells "field absent" (outer `None`) from "field is null" (`Some(None)`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<u32>>, D::Error> {
    Option::<u32>::deserialize(d).map(Some)
}

pub(crate) async fn deploy(invoker: &Invoker, name: &str, req: Request<Incoming>) -> Resp {
    let body = match read_body(req.into_body(), MAX_DEPLOY_BODY).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => {
            return AwsError::RequestTooLarge
                .response(format!("deploy request exceeds {MAX_DEPLOY_BODY} bytes"))
        }
        Err(BodyError::Io(e)) => return AwsError::InvalidRequestContent.response(e),
    };
    let parsed: DeployBody = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => return AwsError::InvalidRequestContent.response(format!("invalid deploy request: {e}")),
    };
    let wasm = match parsed.wasm_base64.map(|b| base64::engine::general_purpose::STANDARD.decode(b)) {
        None => None,
        Some(Ok(bytes)) => Some(Bytes::from(bytes)),
        Some(Err(e)) => {
            return AwsError::InvalidRequestContent.response(format!("wasm_base64 is not valid base64: {e}"))
        }
    };
    let on_success = match parsed.events.on_success.map(|d| d.map(|d| d.parse::<Destination>()).transpose()) {
        None => None,
        Some(Ok(d)) => Some(d),
        Some(Err(e)) => return invoker_error(&e),
    };
    let events = EventConfigUpdate {
        max_retries: parsed.events.max_retries,
        max_event_age_s: parsed.events.max_event_age_s,
        retry_delay_ms: parsed.events.retry_delay_ms,
        on_success,
    };
    let existed = invoker.get(name).is_ok();
    let request = DeployRequest {
        name: name.to_string(),
        wasm,
        image: parsed.image,
        egress: parsed.egress,
        provisioned: parsed.provisioned,
        memory_mb: parsed.memory_mb,
        timeout_s: parsed.timeout_s,
        concurrency: parsed.concurrency,
        env: parsed.env,
        events,
    };
    match invoker.deploy(request).await {
        Ok(config) => json(if existed { StatusCode::OK } else { StatusCode::CREATED }, &config),
        Err(e) => invoker_error(&e),
    }
}

pub(crate) fn list(invoker: &Invoker) -> Resp {
    json(StatusCode::OK, &serde_json::json!({ "functions": invoker.list() }))
}

pub(crate) fn get(invoker: &Invoker, name: &str) -> Resp {
    match invoker.get(name) {
        Ok(config) => json(StatusCode::OK, &config),
        Err(e) => invoker_error(&e),
    }
}

pub(crate) async fn delete(invoker: &Invoker, name: &str) -> Resp {
    match invoker.delete(name).await {
        Ok(()) => empty(StatusCode::NO_CONTENT),
        Err(e) => invoker_error(&e),
    }
}

/// `GET /v1/functions/{name}/logs?limit=N[&follow=true]`: recent entries as JSON, or, when
/// following, newline-delimited JSON entries streamed as invocations finish.
pub(crate) fn logs(invoker: &Invoker, name: &str, query: Option<&str>) -> Resp {
    let limit = query_param(query, "limit").and_then(|l| l.parse().ok()).unwrap_or(20usize);
    let follow = query_param(query, "follow").is_some_and(|f| f == "true" || f == "1");
    if !follow {
        return match invoker.recent_logs(name, limit) {
            Ok(entries) => json(StatusCode::OK, &serde_json::json!({ "entries": entries })),
            Err(e) => invoker_error(&e),
        };
    }
    let mut receiver = match invoker.follow_logs(name) {
        Ok(r) => r,
        Err(e) => return invoker_error(&e),
    };
    let backlog = invoker.recent_logs(name, limit).unwrap_or_default();
    let (mut tx, body) = http_body_util::channel::Channel::<Bytes, crate::http::BoxError>::new(16);
    tokio::spawn(async move {
        let line = |e: &skiff_invoker::LogEntry| {
            let mut l = serde_json::to_vec(e).expect("json");
            l.push(b'\n');
            Bytes::from(l)
        };
        for entry in backlog {
            if tx.send_data(line(&entry)).await.is_err() {
                return;
            }
        }
        loop {
            let next = match receiver.recv().await {
                Ok(entry) => line(&entry),
                Err(RecvError::Lagged(n)) => Bytes::from(format!("{{\"skipped\":{n}}}\n")),
                Err(RecvError::Closed) => return,
            };
            if tx.send_data(next).await.is_err() {
                return;
            }
        }
    });
    let mut resp = Response::new(http_body_util::BodyExt::boxed(body));
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/x-ndjson"));
    resp
}
