//! Create/Get/Update/Delete/ListFunctionUrlConfig(s). A function has at most one URL config, on
//! the function itself (`$LATEST`): a qualifier is refused. The URL shown is the one the caller
//! reached this server at (its `Host`), as `--endpoint-url` named it.

use super::{current, invalid, unqualified, LambdaApi};
use crate::body::read_json;
use crate::errors::{error_response, AwsError};
use crate::http::{empty, json, Resp};
use hyper::header::HOST;
use hyper::{Request, StatusCode};
use skiff_api::lambda::{FunctionUrlConfig, PutFunctionUrlConfig};
use skiff_api::{DeployMode, DeployRequest, FunctionConfig, UrlAuth, UrlConfig};

const MAX_BODY: usize = 64 * 1024;

/// What Create and Update read before their body is consumed.
struct Asked {
    name: String,
    base: String,
    body: PutFunctionUrlConfig,
}

async fn read(function: &str, req: Request<crate::http::ReqBody>) -> Result<Asked, Resp> {
    let name = unqualified(function)?;
    let base = base_of(&req);
    let body = read_json(req, MAX_BODY, "FunctionUrlConfig request").await?;
    Ok(Asked { name, base, body })
}

async fn set(api: &LambdaApi<'_>, name: String, auth: Option<UrlAuth>) -> Result<FunctionConfig, Resp> {
    let request = DeployRequest { name, mode: DeployMode::Update, url: Some(auth), ..Default::default() };
    api.invoker.deployer().deploy(request).await.map_err(|e| error_response(&e))
}

fn shown(api: &LambdaApi<'_>, config: &FunctionConfig, base: &str, status: StatusCode) -> Result<Resp, Resp> {
    let url = configured(api, config)?;
    Ok(json(status, &FunctionUrlConfig::of(&config.name, url, base, api.region)))
}

/// The function's URL config; Lambda answers 404 for none.
fn configured<'c>(api: &LambdaApi<'_>, config: &'c FunctionConfig) -> Result<&'c UrlConfig, Resp> {
    config.url.as_ref().ok_or_else(|| {
        let arn = skiff_api::arn::function_arn(api.region, &config.name);
        AwsError::ResourceNotFound.response(format!("The resource you requested does not exist. (Function URL config for {arn})"))
    })
}

/// The URL the caller reached this server at.
fn base_of(req: &Request<crate::http::ReqBody>) -> String {
    format!("http://{}", req.headers().get(HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost"))
}

pub(super) async fn create(api: &LambdaApi<'_>, function: &str, req: Request<crate::http::ReqBody>) -> Result<Resp, Resp> {
    let asked = read(function, req).await?;
    let auth = asked.body.auth(true).map_err(|e| invalid(&e))?;
    if current(api, &asked.name)?.url.is_some() {
        return Err(AwsError::ResourceConflict.response(format!("Failed to create function url config for {}: it already exists", asked.name)));
    }
    let config = set(api, asked.name, auth).await?;
    shown(api, &config, &asked.base, StatusCode::CREATED)
}

pub(super) fn get(api: &LambdaApi<'_>, function: &str, req: &Request<crate::http::ReqBody>) -> Result<Resp, Resp> {
    let config = current(api, &unqualified(function)?)?;
    shown(api, &config, &base_of(req), StatusCode::OK)
}

pub(super) async fn update(api: &LambdaApi<'_>, function: &str, req: Request<crate::http::ReqBody>) -> Result<Resp, Resp> {
    let asked = read(function, req).await?;
    let auth = asked.body.auth(false).map_err(|e| invalid(&e))?;
    let existing = current(api, &asked.name)?;
    let kept = configured(api, &existing)?.auth;
    let config = set(api, asked.name, Some(auth.unwrap_or(kept))).await?;
    shown(api, &config, &asked.base, StatusCode::OK)
}

pub(super) async fn delete(api: &LambdaApi<'_>, function: &str) -> Result<Resp, Resp> {
    let config = current(api, &unqualified(function)?)?;
    configured(api, &config)?;
    set(api, config.name, None).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

pub(super) fn list(api: &LambdaApi<'_>, function: &str, req: &Request<crate::http::ReqBody>) -> Result<Resp, Resp> {
    let config = current(api, &unqualified(function)?)?;
    let base = base_of(req);
    let configs: Vec<_> = config.url.iter().map(|url| FunctionUrlConfig::of(&config.name, url, &base, api.region)).collect();
    Ok(json(StatusCode::OK, &serde_json::json!({ "FunctionUrlConfigs": configs })))
}
