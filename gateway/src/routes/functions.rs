//! The native control API under `/v1` (documented in `docs/api.md`): deploy, list, get, delete,
//! and invocation logs.

use crate::body::read_json;
use crate::errors::{error_response, reply, AwsError};
use crate::http::{empty, json, Resp};
use crate::route::Route;
use crate::routes::counts::LOG_LIMIT;
use crate::routes::flags::FOLLOW;
use bytes::Bytes;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use skiff_api::{DeployBody, DeployBodyError};
use skiff_invoker::Invoker;
use tokio::sync::broadcast::error::RecvError;

/// Deploy bodies carry base64 code; this admits an 18 MB component with room to spare.
const MAX_DEPLOY_BODY: usize = 96 * 1024 * 1024;

pub(crate) async fn handle(invoker: &Invoker, route: Route<'_>, query: Option<&str>, req: Request<crate::http::ReqBody>) -> Resp {
    match route {
        Route::ListFunctions => list(invoker),
        Route::DeployFunction { name } => deploy(invoker, name, req).await,
        Route::GetFunction { name } => get(invoker, name).await,
        Route::DeleteFunction { name } => match invoker.deployer().delete(name).await {
            Ok(()) => empty(StatusCode::NO_CONTENT),
            Err(e) => error_response(&e),
        },
        Route::FunctionLogs { name } => local_logs(invoker, name, query),
        other => unreachable!("not a function route: {other:?}"),
    }
}

async fn deploy(invoker: &Invoker, name: &str, req: Request<crate::http::ReqBody>) -> Resp {
    let body: DeployBody = match read_json(req, MAX_DEPLOY_BODY, "deploy request").await {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let request = match body.into_request(name) {
        Ok(r) => r,
        Err(e @ DeployBodyError::Base64 { .. }) => return AwsError::InvalidRequestContent.response(e.to_string()),
        Err(DeployBodyError::Setting(e)) => return AwsError::InvalidParameterValue.response(e.to_string()),
    };
    let existed = invoker.get(name).is_ok();
    let status = if existed { StatusCode::OK } else { StatusCode::CREATED };
    reply(status, invoker.deployer().deploy(request).await)
}

/// A function as `GET` shows it: its config and, when its stored code is damaged, why.
#[derive(serde::Serialize)]
struct FunctionView {
    #[serde(flatten)]
    config: skiff_api::FunctionConfig,
    #[serde(skip_serializing_if = "Option::is_none")]
    code_fault: Option<String>,
}

async fn get(invoker: &Invoker, name: &str) -> Resp {
    let config = match invoker.get(name) {
        Ok(config) => config,
        Err(e) => return error_response(&e),
    };
    let code_fault = invoker.code_fault(&config).await;
    json(StatusCode::OK, &FunctionView { config, code_fault })
}

fn list(invoker: &Invoker) -> Resp {
    json(StatusCode::OK, &serde_json::json!({ "functions": invoker.list() }))
}

/// `GET /v1/functions/{name}/logs?limit=N[&follow=true]`: recent entries as JSON, or, when
/// following, newline-delimited JSON entries streamed as invocations finish — of this node's
/// executions (a cluster node gathers every node's in its cluster module).
pub(crate) fn local_logs(invoker: &Invoker, name: &str, query: Option<&str>) -> Resp {
    let limit = match LOG_LIMIT.read(query) {
        Ok(limit) => limit,
        Err(refused) => return refused,
    };
    let follow = match FOLLOW.read(query) {
        Ok(follow) => follow,
        Err(refused) => return refused,
    };
    if follow {
        return followed_logs(invoker, name, limit);
    }
    match invoker.recent_logs(name, limit) {
        Ok(entries) => json(StatusCode::OK, &serde_json::json!({ "entries": entries })),
        Err(e) => error_response(&e),
    }
}

/// This node's stream of `name`'s log: the last `limit` entries, then each new one.
pub(crate) fn followed_logs(invoker: &Invoker, name: &str, limit: usize) -> Resp {
    let mut receiver = match invoker.follow_logs(name) {
        Ok(r) => r,
        Err(e) => return error_response(&e),
    };
    let backlog = invoker.recent_logs(name, limit).unwrap_or_default();
    let (mut tx, body) = http_body_util::channel::Channel::<Bytes, crate::http::BoxError>::new(16);
    tokio::spawn(async move {
        let line = |e: &skiff_api::LogEntry| {
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
