//! Create/List/Get/DeleteEventSourceMapping, on the queue triggers: the same triggers
//! `/v1/triggers` and `skiff trigger` manage, shown in Lambda's shape.

use super::{function_ref, invalid, LambdaApi};
use crate::body::read_json;
use crate::errors::error_response;
use crate::http::{json, query_param, Resp};
use hyper::{Request, StatusCode};
use skiff_api::arn::queue_arn;
use skiff_api::lambda::{event_source, EventSourceMapping, PageRequest};
use skiff_api::TriggerConfig;

const MAX_BODY: usize = 64 * 1024;

pub(super) async fn create(api: &LambdaApi<'_>, req: Request<crate::http::ReqBody>) -> Result<Resp, Resp> {
    let body: serde_json::Value = read_json(req, MAX_BODY, "CreateEventSourceMapping request").await?;
    let request = event_source::create_request(&body).map_err(|e| invalid(&e))?;
    let trigger = api.invoker.triggers().add(request).await.map_err(|e| error_response(&e))?;
    Ok(json(StatusCode::ACCEPTED, &EventSourceMapping::of(&trigger, api.region, "Enabled")))
}

/// `?FunctionName=` and `?EventSourceArn=` narrow the list; `Marker`/`MaxItems` page it.
pub(super) async fn list(api: &LambdaApi<'_>, query: Option<&str>) -> Result<Resp, Resp> {
    let page = PageRequest::parse(query_param(query, "Marker").as_deref(), query_param(query, "MaxItems").as_deref()).map_err(|e| invalid(&e))?;
    let function = match query_param(query, "FunctionName") {
        Some(raw) => Some(function_ref(&raw, None).map_err(|e| invalid(&e))?.name),
        None => None,
    };
    let source = query_param(query, "EventSourceArn");
    let mut all = api.invoker.triggers().list().await.map_err(|e| error_response(&e))?;
    all.retain(|t: &TriggerConfig| function.as_ref().is_none_or(|f| &t.function == f) && source.as_ref().is_none_or(|s| *s == queue_arn(api.region, &t.queue)));
    all.sort_by(|a, b| a.id.cmp(&b.id));
    let page = page.take(all, |t| t.id.clone());
    let mappings: Vec<_> = page.items.iter().map(|t| EventSourceMapping::of(t, api.region, "Enabled")).collect();
    let mut body = serde_json::json!({ "EventSourceMappings": mappings });
    if let Some(next) = page.next_marker {
        body["NextMarker"] = next.into();
    }
    Ok(json(StatusCode::OK, &body))
}

pub(super) async fn get(api: &LambdaApi<'_>, id: &str) -> Result<Resp, Resp> {
    let trigger = api.invoker.triggers().get(id).await.map_err(|e| error_response(&e))?;
    Ok(json(StatusCode::OK, &EventSourceMapping::of(&trigger, api.region, "Enabled")))
}

/// Lambda answers a delete with the mapping in state `Deleting`; here it is gone by then.
pub(super) async fn delete(api: &LambdaApi<'_>, id: &str) -> Result<Resp, Resp> {
    let triggers = api.invoker.triggers();
    let trigger = triggers.get(id).await.map_err(|e| error_response(&e))?;
    triggers.remove(id).await.map_err(|e| error_response(&e))?;
    Ok(json(StatusCode::ACCEPTED, &EventSourceMapping::of(&trigger, api.region, "Deleting")))
}
