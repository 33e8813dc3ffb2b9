use crate::errors::AwsError;
use crate::http::{bytes_response, Resp};
use crate::{async_api, auth, control_api, function_url, invoke_api, service_proxy, services_api, triggers_api};
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use skiff_invoker::Invoker;
use std::net::SocketAddr;

pub(crate) struct State {
    pub(crate) invoker: Invoker,
    pub(crate) token: Option<String>,
    pub(crate) proxy: service_proxy::Proxy,
}

/// Everything after `{prefix}{name}`: the function's or service's own path ("/" when empty).
fn path_after(path: &str, prefix: &str, name: &str) -> String {
    let rest = &path[(prefix.len() + name.len()).min(path.len())..];
    if rest.is_empty() { "/".to_string() } else { rest.to_string() }
}

/// Dispatches on method and path. Everything but `/healthz` is behind the token, when one is set.
pub(crate) async fn route(state: &State, peer: SocketAddr, req: Request<Incoming>) -> Resp {
    let path = req.uri().path().to_string();
    if path == "/healthz" {
        return bytes_response(StatusCode::OK, "text/plain", "ok\n");
    }
    if !auth::authorized(state.token.as_deref(), req.headers()) {
        return AwsError::Unauthorized.response("missing or invalid token");
    }
    let invoker = &state.invoker;
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let method = req.method().clone();
    match (&method, segments.as_slice()) {
        (&Method::POST, ["2015-03-31", "functions", name, "invocations"]) => {
            let name = name.to_string();
            invoke_api::invoke(invoker, &name, req).await
        }
        (_, ["fn", name, ..]) => {
            let name = name.to_string();
            let raw_path = path_after(&path, "/fn/", &name);
            function_url::call(invoker, state.token.as_deref(), &name, &raw_path, peer, req).await
        }
        (_, ["svc", name, ..]) => {
            let name = name.to_string();
            let mut target = path_after(&path, "/svc/", &name);
            if let Some(q) = req.uri().query() {
                target.push('?');
                target.push_str(q);
            }
            service_proxy::forward(&state.proxy, invoker, state.token.as_deref(), &name, &target, peer, req).await
        }
        (&Method::GET, ["v1", "services"]) => services_api::list(invoker),
        (&Method::PUT, ["v1", "services", name]) => {
            let name = name.to_string();
            services_api::deploy(invoker, &name, req).await
        }
        (&Method::GET, ["v1", "services", name]) => services_api::get(invoker, name),
        (&Method::DELETE, ["v1", "services", name]) => services_api::delete(invoker, name).await,
        (&Method::POST, ["v1", "services", name, "scale"]) => {
            let name = name.to_string();
            services_api::scale(invoker, &name, req).await
        }
        (&Method::GET, ["v1", "services", name, "endpoints"]) => services_api::endpoints(invoker, name),
        (&Method::GET, ["v1", "services", name, "logs"]) => services_api::logs(invoker, name, req.uri().query()).await,
        (&Method::GET, ["metrics"]) => bytes_response(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            invoker.metrics().render(),
        ),
        (&Method::GET, ["v1", "functions"]) => control_api::list(invoker),
        (&Method::PUT, ["v1", "functions", name]) => {
            let name = name.to_string();
            control_api::deploy(invoker, &name, req).await
        }
        (&Method::GET, ["v1", "functions", name]) => control_api::get(invoker, name),
        (&Method::DELETE, ["v1", "functions", name]) => control_api::delete(invoker, name).await,
        (&Method::GET, ["v1", "functions", name, "logs"]) => {
            control_api::logs(invoker, name, req.uri().query())
        }
        (&Method::POST, ["v1", "functions", name, "events"]) => {
            let name = name.to_string();
            async_api::accept(invoker, &name, req).await
        }
        (&Method::GET, ["v1", "invocations", id]) => async_api::status(invoker, id),
        (&Method::GET, ["v1", "functions", name, "dlq"]) => {
            async_api::page(invoker.function_dead_letters(name, async_api::limit(req.uri().query())).await)
        }
        (&Method::GET, ["v1", "functions", name, "dlq", id]) => {
            async_api::one(invoker.function_dead_letter(name, id).await)
        }
        (&Method::POST, ["v1", "functions", name, "dlq", "redrive"]) => {
            async_api::redriven(invoker.redrive_function(name, None).await)
        }
        (&Method::POST, ["v1", "functions", name, "dlq", id, "redrive"]) => {
            async_api::redriven(invoker.redrive_function(name, Some(id)).await)
        }
        (&Method::GET, ["v1", "triggers"]) => triggers_api::list(invoker),
        (&Method::POST, ["v1", "triggers"]) => triggers_api::add(invoker, req).await,
        (&Method::GET, ["v1", "triggers", id]) => triggers_api::get(invoker, id),
        (&Method::DELETE, ["v1", "triggers", id]) => triggers_api::remove(invoker, id).await,
        (&Method::GET, ["v1", "triggers", id, "dlq"]) => {
            async_api::page(invoker.trigger_dead_letters(id, async_api::limit(req.uri().query())).await)
        }
        (&Method::GET, ["v1", "triggers", id, "dlq", msg]) => async_api::one(invoker.trigger_dead_letter(id, msg).await),
        (&Method::POST, ["v1", "triggers", id, "dlq", "redrive"]) => {
            async_api::redriven(invoker.redrive_trigger(id, None).await)
        }
        (&Method::POST, ["v1", "triggers", id, "dlq", msg, "redrive"]) => {
            async_api::redriven(invoker.redrive_trigger(id, Some(msg)).await)
        }
        _ => AwsError::ResourceNotFound.response(format!("no route for {method} {path}")),
    }
}
