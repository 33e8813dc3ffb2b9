//! CreateFunction, GetFunction, GetFunctionConfiguration, ListFunctions,
//! UpdateFunctionConfiguration, UpdateFunctionCode and DeleteFunction.

use super::{invalid, target, unqualified, LambdaApi};
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

pub(super) async fn create(api: &LambdaApi<'_>, req: Request<Incoming>) -> Resp {
    let body: CreateFunction = match read_json(req, MAX_CODE_BODY, "CreateFunction request").await {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    match body.into_request() {
        Ok(request) => deploy(api, request, StatusCode::CREATED).await,
        Err(e) => invalid(&e),
    }
}

pub(super) async fn update_configuration(api: &LambdaApi<'_>, function: &str, req: Request<Incoming>) -> Resp {
    let name = match unqualified(function) {
        Ok(n) => n,
        Err(resp) => return resp,
    };
    let body: UpdateFunctionConfiguration = match read_json(req, MAX_CONFIG_BODY, "UpdateFunctionConfiguration request").await {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    match body.into_request(&name) {
        Ok(request) => deploy(api, request, StatusCode::OK).await,
        Err(e) => invalid(&e),
    }
}

pub(super) async fn update_code(api: &LambdaApi<'_>, function: &str, req: Request<Incoming>) -> Resp {
    let name = match unqualified(function) {
        Ok(n) => n,
        Err(resp) => return resp,
    };
    let body: UpdateFunctionCode = match read_json(req, MAX_CODE_BODY, "UpdateFunctionCode request").await {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let dry_run = body.dry_run;
    let request = match body.into_request(&name) {
        Ok(r) => r,
        Err(e) => return invalid(&e),
    };
    if dry_run {
        // Checked, not applied: the answer shows the function as it stays.
        return match request.validate().map_err(|e| invalid(&e)).and_then(|()| current(api, &name)) {
            Ok(config) => configuration(api, &config),
            Err(resp) => resp,
        };
    }
    deploy(api, request, StatusCode::OK).await
}

async fn deploy(api: &LambdaApi<'_>, request: DeployRequest, status: StatusCode) -> Resp {
    match api.invoker.deployer().deploy(request).await {
        Ok(config) => json(status, &FunctionConfiguration::of(&config, api.region, "$LATEST")),
        Err(e) => error_response(&e),
    }
}

pub(super) fn get(api: &LambdaApi<'_>, function: &str, query: Option<&str>) -> Resp {
    match latest(api, function, query) {
        Ok(config) => json(StatusCode::OK, &GetFunctionResponse::of(&config, api.region, "$LATEST")),
        Err(resp) => resp,
    }
}

pub(super) fn get_configuration(api: &LambdaApi<'_>, function: &str, query: Option<&str>) -> Resp {
    match latest(api, function, query) {
        Ok(config) => configuration(api, &config),
        Err(resp) => resp,
    }
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

fn current(api: &LambdaApi<'_>, name: &str) -> Result<FunctionConfig, Resp> {
    api.invoker.get(name).map_err(|e| error_response(&e))
}

pub(super) fn list(api: &LambdaApi<'_>, query: Option<&str>) -> Resp {
    if let Some(v) = query_param(query, "FunctionVersion").filter(|v| v != "ALL") {
        return AwsError::InvalidParameterValue.response(format!("FunctionVersion: {v:?} is not valid: the only value is ALL"));
    }
    let page = match PageRequest::parse(query_param(query, "Marker").as_deref(), query_param(query, "MaxItems").as_deref()) {
        Ok(p) => p.take(api.invoker.list(), |f| f.name.clone()),
        Err(e) => return invalid(&e),
    };
    let functions: Vec<_> = page.items.iter().map(|f| FunctionConfiguration::of(f, api.region, "$LATEST")).collect();
    let mut body = serde_json::json!({ "Functions": functions });
    if let Some(marker) = page.next_marker {
        body["NextMarker"] = marker.into();
    }
    json(StatusCode::OK, &body)
}

pub(super) async fn delete(api: &LambdaApi<'_>, function: &str, query: Option<&str>) -> Resp {
    let reference = match target(function, query) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    if let Some(q) = reference.qualifier {
        return AwsError::InvalidParameterValue.response(format!("Qualifier {q:?}: only the whole function can be deleted here (it has no published versions)"));
    }
    match api.invoker.deployer().delete(&reference.name).await {
        Ok(()) => empty(StatusCode::NO_CONTENT),
        Err(e) => error_response(&e),
    }
}
