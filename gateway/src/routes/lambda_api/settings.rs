//! The function-wide settings: Put/Get/DeleteFunctionConcurrency,
//! Put/Get/DeleteFunctionEventInvokeConfig, and GetAccountSettings.

use super::{invalid, unqualified, LambdaApi};
use crate::body::read_json;
use crate::errors::{error_response, AwsError};
use crate::http::{empty, json, Resp};
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use skiff_api::lambda::configuration::Concurrency;
use skiff_api::lambda::{AccountSettings, EventInvokeConfig, PutEventInvokeConfig};
use skiff_api::{DeployMode, DeployRequest, EventConfigUpdate, FunctionConfig};

const MAX_BODY: usize = 64 * 1024;

/// A configuration-only update of `name`.
fn update(name: String) -> DeployRequest {
    DeployRequest { name, mode: DeployMode::Update, ..Default::default() }
}

async fn apply(api: &LambdaApi<'_>, request: DeployRequest) -> Result<FunctionConfig, Resp> {
    api.invoker.deployer().deploy(request).await.map_err(|e| error_response(&e))
}

pub(super) async fn put_concurrency(api: &LambdaApi<'_>, function: &str, req: Request<Incoming>) -> Resp {
    let name = match unqualified(function) {
        Ok(n) => n,
        Err(resp) => return resp,
    };
    let body: Concurrency = match read_json(req, MAX_BODY, "PutFunctionConcurrency request").await {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let n = body.reserved_concurrent_executions;
    match apply(api, DeployRequest { concurrency: Some(Some(n)), ..update(name) }).await {
        Ok(_) => json(StatusCode::OK, &body),
        Err(resp) => resp,
    }
}

pub(super) fn get_concurrency(api: &LambdaApi<'_>, function: &str) -> Resp {
    let config = match unqualified(function).and_then(|name| api.invoker.get(&name).map_err(|e| error_response(&e))) {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    match config.concurrency {
        Some(n) => json(StatusCode::OK, &Concurrency { reserved_concurrent_executions: n }),
        None => json(StatusCode::OK, &serde_json::json!({})),
    }
}

pub(super) async fn delete_concurrency(api: &LambdaApi<'_>, function: &str) -> Resp {
    let name = match unqualified(function) {
        Ok(n) => n,
        Err(resp) => return resp,
    };
    match apply(api, DeployRequest { concurrency: Some(None), ..update(name) }).await {
        Ok(_) => empty(StatusCode::NO_CONTENT),
        Err(resp) => resp,
    }
}

pub(super) async fn put_event_invoke_config(api: &LambdaApi<'_>, function: &str, req: Request<Incoming>) -> Resp {
    let name = match unqualified(function) {
        Ok(n) => n,
        Err(resp) => return resp,
    };
    let body: PutEventInvokeConfig = match read_json(req, MAX_BODY, "PutFunctionEventInvokeConfig request").await {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let events = match body.into_update() {
        Ok(e) => e,
        Err(e) => return invalid(&e),
    };
    match apply(api, DeployRequest { events, ..update(name) }).await {
        Ok(config) => json(StatusCode::OK, &EventInvokeConfig::of(&config.name, &config.events, api.region, config.updated_at_ms)),
        Err(resp) => resp,
    }
}

/// The function's settings if they were configured; Lambda answers 404 for none.
fn configured(api: &LambdaApi<'_>, function: &str) -> Result<FunctionConfig, Resp> {
    let name = unqualified(function)?;
    let config = api.invoker.get(&name).map_err(|e| error_response(&e))?;
    if !config.events.explicit {
        let arn = skiff_api::arn::function_arn(api.region, &name);
        return Err(AwsError::ResourceNotFound.response(format!("The function {arn} doesn't have an EventInvokeConfig")));
    }
    Ok(config)
}

pub(super) fn get_event_invoke_config(api: &LambdaApi<'_>, function: &str) -> Resp {
    match configured(api, function) {
        Ok(config) => json(StatusCode::OK, &EventInvokeConfig::of(&config.name, &config.events, api.region, config.updated_at_ms)),
        Err(resp) => resp,
    }
}

pub(super) async fn delete_event_invoke_config(api: &LambdaApi<'_>, function: &str) -> Resp {
    let config = match configured(api, function) {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    match apply(api, DeployRequest { events: EventConfigUpdate::reset(), ..update(config.name) }).await {
        Ok(_) => empty(StatusCode::NO_CONTENT),
        Err(resp) => resp,
    }
}

pub(super) fn account(api: &LambdaApi<'_>) -> Resp {
    json(StatusCode::OK, &AccountSettings::of(&api.invoker.list(), api.invoker.concurrency_limit()))
}
