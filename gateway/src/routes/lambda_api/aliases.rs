//! CreateAlias, GetAlias, UpdateAlias, ListAliases and DeleteAlias.

use super::{invalid, unqualified, LambdaApi};
use crate::body::read_json;
use crate::errors::error_response;
use crate::http::{empty, json, query_param, Resp};
use hyper::{Request, StatusCode};
use skiff_api::lambda::{AliasConfiguration, CreateAlias, PageRequest, UpdateAlias};
use skiff_api::version::{check_alias_name, AliasRequest};
use skiff_api::{Alias, VersionRef};

const MAX_BODY: usize = 64 * 1024;

pub(super) async fn create(api: &LambdaApi<'_>, function: &str, req: Request<crate::http::ReqBody>) -> Result<Resp, Resp> {
    let name = unqualified(function)?;
    let body: CreateAlias = read_json(req, MAX_BODY, "CreateAlias request").await?;
    let request = body.into_request(&name).map_err(|e| invalid(&e))?;
    put(api, request, StatusCode::CREATED).await
}

pub(super) async fn update(api: &LambdaApi<'_>, function: &str, alias: &str, req: Request<crate::http::ReqBody>) -> Result<Resp, Resp> {
    let (name, alias) = alias_path(function, alias)?;
    let body: UpdateAlias = read_json(req, MAX_BODY, "UpdateAlias request").await?;
    let request = body.into_request(&name, &alias).map_err(|e| invalid(&e))?;
    put(api, request, StatusCode::OK).await
}

async fn put(api: &LambdaApi<'_>, request: AliasRequest, status: StatusCode) -> Result<Resp, Resp> {
    let alias = api.invoker.deployer().put_alias(request).await.map_err(|e| error_response(&e))?;
    Ok(json(status, &AliasConfiguration::of(&alias, api.region)))
}

pub(super) fn get(api: &LambdaApi<'_>, function: &str, alias: &str) -> Result<Resp, Resp> {
    let (name, alias) = alias_path(function, alias)?;
    let alias = api.invoker.alias(&name, &alias).map_err(|e| error_response(&e))?;
    Ok(json(StatusCode::OK, &AliasConfiguration::of(&alias, api.region)))
}

pub(super) async fn delete(api: &LambdaApi<'_>, function: &str, alias: &str) -> Result<Resp, Resp> {
    let (name, alias) = alias_path(function, alias)?;
    api.invoker.deployer().delete_alias(&name, &alias).await.map_err(|e| error_response(&e))?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// The function's aliases by name; `?FunctionVersion=` keeps those that route to it.
pub(super) fn list(api: &LambdaApi<'_>, function: &str, query: Option<&str>) -> Result<Resp, Resp> {
    let name = unqualified(function)?;
    let routes_to = match query_param(query, "FunctionVersion") {
        None => None,
        Some(v) => Some(v.parse::<VersionRef>().map_err(|e| invalid(&e))?),
    };
    let request = PageRequest::parse(query_param(query, "Marker").as_deref(), query_param(query, "MaxItems").as_deref()).map_err(|e| invalid(&e))?;
    let aliases: Vec<Alias> = api.invoker.aliases(&name).map_err(|e| error_response(&e))?;
    let chosen = aliases.into_iter().filter(|a| routes_to.is_none_or(|v| a.versions().any(|r| r == v))).collect();
    let page = request.take(chosen, |a| a.name.clone());
    let shown: Vec<_> = page.items.iter().map(|a| AliasConfiguration::of(a, api.region)).collect();
    let mut body = serde_json::json!({ "Aliases": shown });
    if let Some(marker) = page.next_marker {
        body["NextMarker"] = marker.into();
    }
    Ok(json(StatusCode::OK, &body))
}

/// The function and the alias a `…/aliases/{Name}` path names.
fn alias_path(function: &str, alias: &str) -> Result<(String, String), Resp> {
    let name = unqualified(function)?;
    let alias = percent_encoding::percent_decode_str(alias).decode_utf8_lossy().into_owned();
    check_alias_name(&alias).map_err(|e| invalid(&e))?;
    Ok((name, alias))
}
