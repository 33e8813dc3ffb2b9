//! CreateFunction, GetFunction, GetFunctionConfiguration, ListFunctions,
//! UpdateFunctionConfiguration, UpdateFunctionCode and DeleteFunction.

use super::{current, invalid, target, unqualified, LambdaApi};
use crate::body::read_json;
use crate::errors::{error_response, AwsError};
use crate::http::{empty, json, query_param, Resp};
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use skiff_api::lambda::{CreateFunction, FunctionConfiguration, GetFunctionResponse, PageRequest, UpdateFunctionCode, UpdateFunctionConfiguration};
use skiff_api::{DeployRequest, FunctionConfig};

/// A zip of Lambda's 50 MB limit, base64-encoded, with room for the rest of the body.
const MAX_CODE_BODY: usize = 72 * 1024 * 1024;
const MAX_CONFIG_BODY: usize = 1024 * 1024;

pub(super) async fn create(api: &LambdaApi<'_>, req: Request<Incoming>) -> Result<Resp, Resp> {
    let body: CreateFunction = read_json(req, MAX_CODE_BODY, "CreateFunction request").await?;
    let request = body.into_request().map_err(|e| invalid(&e))?;
    deploy(api, request, StatusCode::CREATED).await
}

pub(super) async fn update_configuration(api: &LambdaApi<'_>, function: &str, req: Request<Incoming>) -> Result<Resp, Resp> {
    let name = unqualified(function)?;
    let body: UpdateFunctionConfiguration = read_json(req, MAX_CONFIG_BODY, "UpdateFunctionConfiguration request").await?;
    let request = body.into_request(&name).map_err(|e| invalid(&e))?;
    deploy(api, request, StatusCode::OK).await
}

pub(super) async fn update_code(api: &LambdaApi<'_>, function: &str, req: Request<Incoming>) -> Result<Resp, Resp> {
    let name = unqualified(function)?;
    let body: UpdateFunctionCode = read_json(req, MAX_CODE_BODY, "UpdateFunctionCode request").await?;
    let dry_run = body.dry_run;
    let request = body.into_request(&name).map_err(|e| invalid(&e))?;
    if dry_run {
        // Checked, not applied: the answer shows the function as it stays.
        request.validate().map_err(|e| invalid(&e))?;
        return Ok(configuration(api, &current(api, &name)?));
    }
    deploy(api, request, StatusCode::OK).await
}

async fn deploy(api: &LambdaApi<'_>, request: DeployRequest, status: StatusCode) -> Result<Resp, Resp> {
    let config = api.invoker.deployer().deploy(request).await.map_err(|e| error_response(&e))?;
    Ok(json(status, &FunctionConfiguration::of(&config, api.region, "$LATEST")))
}

pub(super) fn get(api: &LambdaApi<'_>, function: &str, query: Option<&str>) -> Result<Resp, Resp> {
    let config = latest(api, function, query)?;
    Ok(json(StatusCode::OK, &GetFunctionResponse::of(&config, api.region, "$LATEST")))
}

pub(super) fn get_configuration(api: &LambdaApi<'_>, function: &str, query: Option<&str>) -> Result<Resp, Resp> {
    Ok(configuration(api, &latest(api, function, query)?))
}

fn configuration(api: &LambdaApi<'_>, config: &FunctionConfig) -> Resp {
    json(StatusCode::OK, &FunctionConfiguration::of(config, api.region, "$LATEST"))
}

/// The function's `$LATEST`, the only version a path may name until it is published.
fn latest(api: &LambdaApi<'_>, function: &str, query: Option<&str>) -> Result<FunctionConfig, Resp> {
    let reference = target(function, query)?;
    match reference.qualifier.as_deref() {
        None | Some("$LATEST") => current(api, &reference.name),
        Some(q) => Err(AwsError::ResourceNotFound.response(format!("Function not found: {}:{q}", reference.name))),
    }
}

pub(super) fn list(api: &LambdaApi<'_>, query: Option<&str>) -> Result<Resp, Resp> {
    if let Some(v) = query_param(query, "FunctionVersion").filter(|v| v != "ALL") {
        return Err(AwsError::InvalidParameterValue.response(format!("FunctionVersion: {v:?} is not valid: the only value is ALL")));
    }
    let request = PageRequest::parse(query_param(query, "Marker").as_deref(), query_param(query, "MaxItems").as_deref()).map_err(|e| invalid(&e))?;
    let page = request.take(api.invoker.list(), |f| f.name.clone());
    let functions: Vec<_> = page.items.iter().map(|f| FunctionConfiguration::of(f, api.region, "$LATEST")).collect();
    let mut body = serde_json::json!({ "Functions": functions });
    if let Some(marker) = page.next_marker {
        body["NextMarker"] = marker.into();
    }
    Ok(json(StatusCode::OK, &body))
}

pub(super) async fn delete(api: &LambdaApi<'_>, function: &str, query: Option<&str>) -> Result<Resp, Resp> {
    let reference = target(function, query)?;
    if let Some(q) = reference.qualifier {
        return Err(AwsError::InvalidParameterValue.response(format!("Qualifier {q:?}: only the whole function can be deleted here (it has no published versions)")));
    }
    api.invoker.deployer().delete(&reference.name).await.map_err(|e| error_response(&e))?;
    Ok(empty(StatusCode::NO_CONTENT))
}
