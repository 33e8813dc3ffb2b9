//! CreateFunction, GetFunction, GetFunctionConfiguration, ListFunctions,
//! UpdateFunctionConfiguration, UpdateFunctionCode and DeleteFunction.

use super::versions::publish_now;
use super::{current, invalid, target, unqualified, LambdaApi};
use crate::body::read_json;
use crate::errors::{error_response, AwsError};
use crate::http::{empty, json, query_param, Resp};
use hyper::{Request, StatusCode};
use skiff_api::lambda::{
    CreateFunction, FunctionConfiguration, GetFunctionResponse, PageRequest, PublishVersion, UpdateFunctionCode, UpdateFunctionConfiguration,
};
use skiff_api::{DeployRequest, FunctionConfig, Qualifier, VersionRef};

/// A zip of Lambda's 50 MB limit, base64-encoded, with room for the rest of the body.
const MAX_CODE_BODY: usize = 72 * 1024 * 1024;
const MAX_CONFIG_BODY: usize = 1024 * 1024;

pub(super) async fn create(api: &LambdaApi<'_>, req: Request<crate::http::ReqBody>) -> Result<Resp, Resp> {
    let body: CreateFunction = read_json(req, MAX_CODE_BODY, "CreateFunction request").await?;
    let publish = body.publish;
    let request = body.into_request().map_err(|e| invalid(&e))?;
    deploy(api, request, publish, StatusCode::CREATED).await
}

pub(super) async fn update_configuration(api: &LambdaApi<'_>, function: &str, req: Request<crate::http::ReqBody>) -> Result<Resp, Resp> {
    let name = unqualified(function)?;
    let body: UpdateFunctionConfiguration = read_json(req, MAX_CONFIG_BODY, "UpdateFunctionConfiguration request").await?;
    let request = body.into_request(&name).map_err(|e| invalid(&e))?;
    deploy(api, request, false, StatusCode::OK).await
}

pub(super) async fn update_code(api: &LambdaApi<'_>, function: &str, req: Request<crate::http::ReqBody>) -> Result<Resp, Resp> {
    let name = unqualified(function)?;
    let body: UpdateFunctionCode = read_json(req, MAX_CODE_BODY, "UpdateFunctionCode request").await?;
    let (dry_run, publish) = (body.dry_run, body.publish);
    let request = body.into_request(&name).map_err(|e| invalid(&e))?;
    if dry_run {
        // Checked, not applied: the answer shows the function as it stays.
        request.validate().map_err(|e| invalid(&e))?;
        return Ok(configuration(api, &current(api, &name)?));
    }
    deploy(api, request, publish, StatusCode::OK).await
}

/// Applies `request`; with `publish`, then publishes the result as a version and answers that.
async fn deploy(api: &LambdaApi<'_>, request: DeployRequest, publish: bool, status: StatusCode) -> Result<Resp, Resp> {
    let mut config = api.invoker.deployer().deploy(request).await.map_err(|e| error_response(&e))?;
    if publish {
        config = publish_now(api, &config.name, PublishVersion::default()).await?;
    }
    Ok(json(status, &FunctionConfiguration::of(&config, api.region)))
}

pub(super) fn get(api: &LambdaApi<'_>, function: &str, query: Option<&str>) -> Result<Resp, Resp> {
    let config = qualified(api, function, query)?;
    Ok(json(StatusCode::OK, &GetFunctionResponse::of(&config, api.region)))
}

pub(super) fn get_configuration(api: &LambdaApi<'_>, function: &str, query: Option<&str>) -> Result<Resp, Resp> {
    Ok(configuration(api, &qualified(api, function, query)?))
}

fn configuration(api: &LambdaApi<'_>, config: &FunctionConfig) -> Resp {
    json(StatusCode::OK, &FunctionConfiguration::of(config, api.region))
}

/// The version a path names: `$LATEST`, a published number, or the version an alias points
/// at (its own, not one it routes a share to).
fn qualified(api: &LambdaApi<'_>, function: &str, query: Option<&str>) -> Result<FunctionConfig, Resp> {
    let reference = target(function, query)?;
    let version = match &reference.qualifier {
        Some(Qualifier::Alias(alias)) => api.invoker.alias(&reference.name, alias).map_err(|e| error_response(&e))?.version,
        _ => reference.version().unwrap_or_default(),
    };
    api.invoker.version(&reference.name, version).map_err(|e| error_response(&e))
}

/// Functions by name; with `FunctionVersion=ALL`, each followed by its published versions.
pub(super) fn list(api: &LambdaApi<'_>, query: Option<&str>) -> Result<Resp, Resp> {
    let all = match query_param(query, "FunctionVersion") {
        None => false,
        Some(v) if v == "ALL" => true,
        Some(v) => return Err(AwsError::InvalidParameterValue.response(format!("FunctionVersion: {v:?} is not valid: the only value is ALL"))),
    };
    let request = PageRequest::parse(query_param(query, "Marker").as_deref(), query_param(query, "MaxItems").as_deref()).map_err(|e| invalid(&e))?;
    let mut listed = Vec::new();
    for function in api.invoker.list() {
        if all {
            listed.extend(api.invoker.versions(&function.name).unwrap_or_default());
        }
        listed.push(function);
    }
    // Paging walks keys in order: a NUL after the name keeps `f`'s versions before `f-x`.
    let key = |f: &FunctionConfig| format!("{}\0{}", f.name, f.published.map_or_else(|| "$LATEST".to_string(), |n| format!("{n:010}")));
    listed.sort_by_key(key);
    let page = request.take(listed, key);
    let functions: Vec<_> = page.items.iter().map(|f| FunctionConfiguration::of(f, api.region)).collect();
    let mut body = serde_json::json!({ "Functions": functions });
    if let Some(marker) = page.next_marker {
        body["NextMarker"] = marker.into();
    }
    Ok(json(StatusCode::OK, &body))
}

pub(super) async fn delete(api: &LambdaApi<'_>, function: &str, query: Option<&str>) -> Result<Resp, Resp> {
    let reference = target(function, query)?;
    let deployer = api.invoker.deployer();
    let deleted = match (reference.version(), &reference.qualifier) {
        (Some(VersionRef::Published(n)), _) => deployer.delete_version(&reference.name, n).await,
        (_, None) => deployer.delete(&reference.name).await,
        (_, Some(q)) => {
            return Err(AwsError::InvalidParameterValue
                .response(format!("Qualifier {q}: give a published version number, or no qualifier to delete the whole function")))
        }
    };
    deleted.map_err(|e| error_response(&e))?;
    Ok(empty(StatusCode::NO_CONTENT))
}
