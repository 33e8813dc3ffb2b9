//! PublishVersion and ListVersionsByFunction.

use super::{current, invalid, unqualified, LambdaApi};
use crate::body::read_json;
use crate::errors::error_response;
use crate::http::{json, query_param, Resp};
use hyper::{Request, StatusCode};
use skiff_api::lambda::{FunctionConfiguration, PageRequest, PublishVersion};
use skiff_api::FunctionConfig;
use skiff_invoker::PublishRequest;

const MAX_BODY: usize = 64 * 1024;

pub(super) async fn publish(api: &LambdaApi<'_>, function: &str, req: Request<crate::http::ReqBody>) -> Result<Resp, Resp> {
    let name = unqualified(function)?;
    let body: PublishVersion = read_json(req, MAX_BODY, "PublishVersion request").await?;
    let version = publish_now(api, &name, body).await?;
    Ok(json(StatusCode::CREATED, &FunctionConfiguration::of(&version, api.region)))
}

/// Publishes `name` as it is now (also what `Publish: true` on a create or a code update does).
pub(super) async fn publish_now(api: &LambdaApi<'_>, name: &str, body: PublishVersion) -> Result<FunctionConfig, Resp> {
    let request = PublishRequest { function: name.to_string(), description: body.description, if_revision: body.revision_id, if_code_sha256: body.code_sha256 };
    api.invoker.deployer().publish(request).await.map_err(|e| error_response(&e))
}

/// `$LATEST` first, then the published versions oldest first, as Lambda lists them.
pub(super) fn list(api: &LambdaApi<'_>, function: &str, query: Option<&str>) -> Result<Resp, Resp> {
    let name = unqualified(function)?;
    let request = PageRequest::parse(query_param(query, "Marker").as_deref(), query_param(query, "MaxItems").as_deref()).map_err(|e| invalid(&e))?;
    let mut all = vec![current(api, &name)?];
    all.extend(api.invoker.versions(&name).map_err(|e| error_response(&e))?);
    // Paging walks keys in order: `$` sorts before the digits, and numbers are zero-padded.
    let page = request.take(all, |v| v.published.map_or_else(|| "$LATEST".to_string(), |n| format!("{n:010}")));
    let versions: Vec<_> = page.items.iter().map(|v| FunctionConfiguration::of(v, api.region)).collect();
    let mut body = serde_json::json!({ "Versions": versions });
    if let Some(marker) = page.next_marker {
        body["NextMarker"] = marker.into();
    }
    Ok(json(StatusCode::OK, &body))
}
