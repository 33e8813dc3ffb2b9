//! The token check, then one dispatch per [`Route`] to its handler.

use crate::errors::AwsError;
use crate::http::{bytes_response, Resp};
use crate::route::{parse, Route};
use crate::routes::{events, function_url, functions, lambda, services, triggers};
use crate::{auth, proxy};
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use skiff_invoker::Invoker;
use skiff_services::Services;
use std::net::SocketAddr;

pub(crate) struct State {
    pub(crate) invoker: Invoker,
    pub(crate) services: Services,
    pub(crate) token: Option<String>,
    pub(crate) proxy: proxy::Proxy,
}

/// Everything but `/healthz` is behind the token, when one is set.
pub(crate) async fn route(state: &State, peer: SocketAddr, req: Request<Incoming>) -> Resp {
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(str::to_owned);
    let route = parse(req.method(), &path, query.as_deref());
    if route == Route::Health {
        return bytes_response(StatusCode::OK, "text/plain", "ok\n");
    }
    if !auth::authorized(state.token.as_deref(), req.headers()) {
        return AwsError::Unauthorized.response("missing or invalid token");
    }
    let (invoker, query) = (&state.invoker, query.as_deref());
    match route {
        Route::Health => unreachable!("answered above"),
        Route::Metrics => {
            bytes_response(StatusCode::OK, "text/plain; version=0.0.4; charset=utf-8", invoker.metrics().render())
        }
        Route::Invoke { function } => lambda::invoke(invoker, function, req).await,
        Route::FunctionUrl { function, path } => {
            function_url::call(invoker, state.token.as_deref(), function, path, peer, req).await
        }
        Route::ServiceProxy { service, target } => {
            proxy::forward(&state.proxy, &state.services, state.token.as_deref(), service, &target, peer, req).await
        }
        Route::Unknown => AwsError::ResourceNotFound.response(format!("no route for {} {path}", req.method())),
        function_route @ (Route::ListFunctions
        | Route::DeployFunction { .. }
        | Route::GetFunction { .. }
        | Route::DeleteFunction { .. }
        | Route::FunctionLogs { .. }) => functions::handle(invoker, function_route, query, req).await,
        trigger_route @ (Route::ListTriggers
        | Route::AddTrigger
        | Route::GetTrigger { .. }
        | Route::RemoveTrigger { .. }
        | Route::TriggerDeadLetters { .. }
        | Route::TriggerDeadLetter { .. }
        | Route::RedriveTrigger { .. }) => triggers::handle(invoker.triggers(), trigger_route, query, req).await,
        service_route @ (Route::ListServices
        | Route::DeployService { .. }
        | Route::GetService { .. }
        | Route::DeleteService { .. }
        | Route::ScaleService { .. }
        | Route::ServiceEndpoints { .. }
        | Route::ServiceLogs { .. }) => services::handle(&state.services, service_route, query, req).await,
        event_route => events::handle(invoker.events(), event_route, query, req).await,
    }
}
