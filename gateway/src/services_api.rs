//! `/v1/services`: deploy, list, get, scale, delete, endpoints (service discovery) and logs.

use crate::errors::{invoker_error, reply, AwsError};
use crate::http::{bytes_response, empty, query_param, read_json, Resp};
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde::Deserialize;
use skiff_invoker::{Invoker, ServiceRequest};

const MAX_SERVICE_BODY: usize = 256 * 1024;
const DEFAULT_LOG_LINES: usize = 100;
const MAX_LOG_LINES: usize = 10_000;

pub(crate) async fn deploy(invoker: &Invoker, name: &str, req: Request<Incoming>) -> Resp {
    match read_json::<ServiceRequest>(req, MAX_SERVICE_BODY, "service definition").await {
        Ok(request) => reply(StatusCode::OK, invoker.deploy_service(name, request).await),
        Err(resp) => resp,
    }
}

pub(crate) fn list(invoker: &Invoker) -> Resp {
    reply(StatusCode::OK, Ok(serde_json::json!({ "services": invoker.list_services() })))
}

pub(crate) fn get(invoker: &Invoker, name: &str) -> Resp {
    reply(StatusCode::OK, invoker.get_service(name))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScaleBody {
    count: u32,
}

pub(crate) async fn scale(invoker: &Invoker, name: &str, req: Request<Incoming>) -> Resp {
    match read_json::<ScaleBody>(req, MAX_SERVICE_BODY, "scale request").await {
        Ok(scale) => reply(StatusCode::OK, invoker.scale_service(name, scale.count).await),
        Err(resp) => resp,
    }
}

pub(crate) async fn delete(invoker: &Invoker, name: &str) -> Resp {
    match invoker.delete_service(name).await {
        Ok(()) => empty(StatusCode::NO_CONTENT),
        Err(e) => invoker_error(&e),
    }
}

pub(crate) fn endpoints(invoker: &Invoker, name: &str) -> Resp {
    reply(StatusCode::OK, invoker.service_endpoints(name).map(|e| serde_json::json!({ "endpoints": e })))
}

pub(crate) async fn logs(invoker: &Invoker, name: &str, query: Option<&str>) -> Resp {
    let lines = match query_param(query, "tail").map(|t| t.parse::<usize>()) {
        None => DEFAULT_LOG_LINES,
        Some(Ok(n)) if (1..=MAX_LOG_LINES).contains(&n) => n,
        Some(_) => return AwsError::InvalidParameterValue.response(format!("tail must be 1..{MAX_LOG_LINES}")),
    };
    match invoker.service_logs(name, lines).await {
        Ok(text) => bytes_response(StatusCode::OK, "text/plain; charset=utf-8", text),
        Err(e) => invoker_error(&e),
    }
}
