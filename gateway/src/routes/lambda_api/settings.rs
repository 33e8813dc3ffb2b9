//! The function-wide settings: Put/Get/DeleteFunctionConcurrency,
//! Put/Get/DeleteFunctionEventInvokeConfig, and GetAccountSettings.

use super::{current, invalid, unqualified, LambdaApi};
use crate::body::read_json;
use crate::errors::{error_response, AwsError};
use crate::http::{empty, json, Resp};
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

pub(super) async fn put_concurrency(api: &LambdaApi<'_>, function: &str, req: Request<crate::http::ReqBody>) -> Result<Resp, Resp> {
    let name = unqualified(function)?;
    let body: Concurrency = read_json(req, MAX_BODY, "PutFunctionConcurrency request").await?;
    apply(api, DeployRequest { concurrency: Some(Some(body.reserved_concurrent_executions)), ..update(name) }).await?;
    Ok(json(StatusCode::OK, &body))
}

pub(super) fn get_concurrency(api: &LambdaApi<'_>, function: &str) -> Result<Resp, Resp> {
    let config = current(api, &unqualified(function)?)?;
    Ok(match config.concurrency {
        Some(n) => json(StatusCode::OK, &Concurrency { reserved_concurrent_executions: n }),
        None => json(StatusCode::OK, &serde_json::json!({})),
    })
}

pub(super) async fn delete_concurrency(api: &LambdaApi<'_>, function: &str) -> Result<Resp, Resp> {
    apply(api, DeployRequest { concurrency: Some(None), ..update(unqualified(function)?) }).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

pub(super) async fn put_event_invoke_config(api: &LambdaApi<'_>, function: &str, req: Request<crate::http::ReqBody>) -> Result<Resp, Resp> {
    let name = unqualified(function)?;
    let body: PutEventInvokeConfig = read_json(req, MAX_BODY, "PutFunctionEventInvokeConfig request").await?;
    let events = body.into_update().map_err(|e| invalid(&e))?;
    let config = apply(api, DeployRequest { events, ..update(name) }).await?;
    Ok(event_invoke_config(api, &config))
}

fn event_invoke_config(api: &LambdaApi<'_>, config: &FunctionConfig) -> Resp {
    json(StatusCode::OK, &EventInvokeConfig::of(&config.name, &config.events, api.region, config.updated_at_ms))
}

/// The function's settings if they were configured; Lambda answers 404 for none.
fn configured(api: &LambdaApi<'_>, function: &str) -> Result<FunctionConfig, Resp> {
    let name = unqualified(function)?;
    let config = current(api, &name)?;
    if !config.events.explicit {
        let arn = skiff_api::arn::function_arn(api.region, &name);
        return Err(AwsError::ResourceNotFound.response(format!("The function {arn} doesn't have an EventInvokeConfig")));
    }
    Ok(config)
}

pub(super) fn get_event_invoke_config(api: &LambdaApi<'_>, function: &str) -> Result<Resp, Resp> {
    Ok(event_invoke_config(api, &configured(api, function)?))
}

pub(super) async fn delete_event_invoke_config(api: &LambdaApi<'_>, function: &str) -> Result<Resp, Resp> {
    let config = configured(api, function)?;
    apply(api, DeployRequest { events: EventConfigUpdate::reset(), ..update(config.name) }).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

pub(super) fn account(api: &LambdaApi<'_>) -> Resp {
    json(StatusCode::OK, &AccountSettings::of(&api.invoker.list(), api.invoker.concurrency_limit()))
}
