//! `/v1/services`: deploy, list, get, scale, delete, endpoints (service discovery) and logs.

use crate::body::read_json;
use crate::errors::{error_response, reply};
use crate::http::{bytes_response, empty, Resp};
use crate::route::Route;
use hyper::{Request, StatusCode};
use serde::Deserialize;
use skiff_api::ServiceRequest;
use skiff_services::Services;

const MAX_SERVICE_BODY: usize = 256 * 1024;

pub(crate) async fn handle(services: &Services, route: Route<'_>, query: Option<&str>, req: Request<crate::http::ReqBody>) -> Resp {
    match route {
        Route::ListServices => crate::http::json(StatusCode::OK, &serde_json::json!({ "services": services.list() })),
        Route::DeployService { name } => match read_json::<ServiceRequest>(req, MAX_SERVICE_BODY, "service definition").await {
            Ok(request) => reply(StatusCode::OK, services.deploy(name, request).await),
            Err(resp) => resp,
        },
        Route::GetService { name } => reply(StatusCode::OK, services.get(name)),
        Route::DeleteService { name } => match services.delete(name).await {
            Ok(()) => empty(StatusCode::NO_CONTENT),
            Err(e) => error_response(&e),
        },
        Route::ScaleService { name } => scale(services, name, req).await,
        Route::ServiceEndpoints { name } => reply(StatusCode::OK, services.endpoints(name).map(|e| serde_json::json!({ "endpoints": e }))),
        Route::ServiceLogs { name } => logs(services, name, query).await,
        other => unreachable!("not a services route: {other:?}"),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScaleBody {
    count: u32,
}

async fn scale(services: &Services, name: &str, req: Request<crate::http::ReqBody>) -> Resp {
    match read_json::<ScaleBody>(req, MAX_SERVICE_BODY, "scale request").await {
        Ok(scale) => reply(StatusCode::OK, services.scale(name, scale.count).await),
        Err(resp) => resp,
    }
}

async fn logs(services: &Services, name: &str, query: Option<&str>) -> Resp {
    let lines = match super::counts::TAIL.read(query) {
        Ok(n) => n,
        Err(resp) => return resp,
    };
    match services.logs(name, lines).await {
        Ok(text) => bytes_response(StatusCode::OK, "text/plain; charset=utf-8", text),
        Err(e) => error_response(&e),
    }
}
