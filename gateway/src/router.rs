//! The token check, then one dispatch per [`Route`] to its handler.

use crate::cluster::forward::{stamp, CallKind, Signer};
use crate::cluster::{copies, internal, logs, nodes, status, Caller, ClusterGateway, Node};
use crate::errors::AwsError;
use crate::http::{bytes_response, Resp};
use crate::route::{parse, Route};
use crate::routes::{events, function_url, functions, keys, lambda, lambda_api, services, tasks, triggers};
use crate::{auth, proxy};
use hyper::{Request, StatusCode};
use skiff_api::NodeInfo;
use skiff_invoker::Invoker;
use skiff_services::Services;
use std::net::SocketAddr;

pub(crate) struct State {
    pub(crate) invoker: Invoker,
    pub(crate) services: Services,
    pub(crate) auth: std::sync::Arc<auth::Auth>,
    pub(crate) proxy: proxy::Proxy,
    pub(crate) node: Node,
    /// The region in the ARNs the Lambda API shows.
    pub(crate) region: String,
    /// Slots for requests that upload code (see [`MAX_UPLOADS`]).
    pub(crate) uploads: std::sync::Arc<tokio::sync::Semaphore>,
}

/// Code uploads handled at once. Each buffers a body of up to 96 MiB and compiles it, so more
/// at once only multiplies memory, and the compiler already uses every core.
pub(crate) const MAX_UPLOADS: usize = 2;
/// How long an upload waits for a slot before it is told to retry (429).
const UPLOAD_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Whether the route's body may carry code to compile or build.
fn carries_code(route: &Route<'_>) -> bool {
    use crate::route::LambdaRoute;
    matches!(route, Route::DeployFunction { .. } | Route::Lambda(LambdaRoute::CreateFunction | LambdaRoute::UpdateCode { .. }))
}

/// Everything but `/healthz` is behind the token, when one is set.
pub(crate) async fn route(state: &State, peer: SocketAddr, req: Request<crate::http::ReqBody>) -> Resp {
    let state_token = state.auth.token.as_deref();
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(str::to_owned);
    let route = parse(req.method(), &path, query.as_deref());
    if route == Route::Health {
        return bytes_response(StatusCode::OK, "text/plain", "ok\n");
    }
    let caller = state.node.caller(req.headers(), matches!(route, Route::Internal(_)));
    if caller == Caller::Impostor {
        return AwsError::Unauthorized.response("internal request without the cluster secret");
    }
    if let (Route::Internal(internal), Some(cluster)) = (&route, &state.node.cluster) {
        return match internal.is_agents() {
            true => copies::handle(&state.services, *internal, req).await,
            false => internal::handle(cluster, &state.invoker, &state.services, *internal, req).await,
        };
    }
    if state_token.is_none() && caller == Caller::Client {
        if let Err(refusal) = auth::local::check(&route, req.method(), req.headers(), req.uri().authority().map(|a| a.as_str())) {
            let kind = match refusal {
                auth::local::Refusal::NotJson(_) => AwsError::UnsupportedMediaType,
                _ => AwsError::AccessDenied,
            };
            return kind.response(refusal.to_string());
        }
    }
    // A call another node forwarded was authenticated where it entered (and its Host, which
    // a signature covers, has changed since).
    let req = if caller == Caller::Peer || public_url(&state.invoker, &route) {
        req
    } else {
        match state.auth.authenticate(req).await {
            Ok((identity, req)) => match state.auth.authorize(&identity, &route) {
                Ok(()) => req,
                Err(denied) => return denied,
            },
            Err(refused) => return refused,
        }
    };
    // Bounded before any body is read: a slot, or 429 after a while.
    let _upload = match carries_code(&route) {
        true => match tokio::time::timeout(UPLOAD_WAIT, state.uploads.clone().acquire_owned()).await {
            Ok(Ok(slot)) => Some(slot),
            _ => return AwsError::TooManyRequests.response(format!("{MAX_UPLOADS} code uploads are in progress: retry later")),
        },
        false => None,
    };
    if let Route::ServiceProxy { service, target } = &route {
        return proxy::forward(&state.proxy, &state.services, state_token, service, target, peer, req).await;
    }
    // Boxed: hyper keeps each request's future inline in its connection and moves it there, so
    // the proxy's path above must not carry the size of the largest handler's future.
    Box::pin(dispatch(state, peer, caller, route, query.as_deref(), &path, req)).await
}

/// Every route but the health check, internal calls and the service proxy, answered above.
async fn dispatch(
    state: &State,
    peer: SocketAddr,
    caller: Caller,
    route: Route<'_>,
    query: Option<&str>,
    path: &str,
    req: Request<crate::http::ReqBody>,
) -> Resp {
    let state_token = state.auth.token.as_deref();
    let invoker = &state.invoker;
    let me = state.node.info.name.as_str();
    match route {
        Route::Health | Route::Internal(_) | Route::ServiceProxy { .. } => unreachable!("answered in `route`"),
        Route::Metrics => bytes_response(StatusCode::OK, "text/plain; version=0.0.4; charset=utf-8", invoker.metrics().render()),
        Route::Invoke { function } => {
            let walkable = caller == Caller::Client && lambda::is_request_response(req.headers());
            let name = lambda::function_name(function).filter(|_| walkable);
            match walk_path(state, name.as_deref()) {
                None => stamp(lambda::invoke(invoker, function, req).await, me),
                Some((cluster, path)) => {
                    let here = |req| async move { stamp(lambda::invoke(invoker, function, req).await, me) };
                    state
                        .node
                        .forwarder
                        .walk(Signer { node: me, secret: &cluster.secret }, CallKind::LambdaInvoke, path, req, patience(invoker, name.as_deref()), here)
                        .await
                }
            }
        }
        Route::FunctionUrl { function, path } => {
            let token = state_token;
            let name = Some(function).filter(|_| caller == Caller::Client);
            match walk_path(state, name) {
                None => stamp(function_url::call(invoker, token, function, path, peer, req).await, me),
                Some((cluster, hops)) => {
                    let here = |req| async move { stamp(function_url::call(invoker, token, function, path, peer, req).await, me) };
                    state
                        .node
                        .forwarder
                        .walk(Signer { node: me, secret: &cluster.secret }, CallKind::FunctionUrl, hops, req, patience(invoker, Some(function)), here)
                        .await
                }
            }
        }
        Route::Lambda(operation) => {
            let api = lambda_api::LambdaApi { invoker, region: &state.region };
            lambda_api::handle(&api, operation, query, req).await
        }
        Route::ListNodes => nodes::list(&state.node, invoker).await,
        Route::CreateKey => keys::create(&state.auth, req).await,
        Route::ListKeys => keys::list(&state.auth),
        Route::DeleteKey { id } => keys::delete(&state.auth, id).await,
        Route::InvocationStatus { id } if state.node.cluster.is_some() => {
            let cluster = state.node.cluster.as_ref().expect("checked in the guard");
            status::gather(cluster, me, invoker, id).await
        }
        Route::FunctionLogs { name } if state.node.cluster.is_some() => {
            let cluster = state.node.cluster.as_ref().expect("checked in the guard");
            logs::gather(cluster, me, invoker, name, query).await
        }
        Route::Unknown => unknown(req.method(), path),
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
        task_route @ (Route::RunTask | Route::ListTasks | Route::GetTask { .. } | Route::StopTask { .. } | Route::TaskLogs { .. }) => {
            tasks::handle(&state.services, task_route, query, req).await
        }
        event_route => events::handle(invoker.events(), event_route, query, req).await,
    }
}

/// The nodes a call of `function` walks, on a cluster node; `None` runs it here as it came (a
/// single node, an asynchronous or forwarded call — which never hops again — or no function).
fn walk_path<'s>(state: &'s State, function: Option<&str>) -> Option<(&'s ClusterGateway, Vec<Option<NodeInfo>>)> {
    let (cluster, function) = (state.node.cluster.as_ref()?, function?);
    let ready = cluster.members.ready();
    let path = skiff_cluster::placement::path(function, &state.node.info.name, &ready, state.invoker.is_warm(function));
    Some((cluster, path))
}

/// How long a forwarded call may take to start answering: the function's own timeout, plus
/// time for a cold start and the hop.
fn patience(invoker: &Invoker, function: Option<&str>) -> std::time::Duration {
    let timeout = function.and_then(|f| invoker.timeout(f)).unwrap_or(std::time::Duration::from_secs(900));
    timeout + std::time::Duration::from_secs(30)
}

/// 405 with `Allow` when the path has routes for other methods, else 404.
fn unknown(method: &hyper::Method, path: &str) -> Resp {
    let allowed = crate::route::allowed_methods(path);
    if allowed.is_empty() {
        return AwsError::ResourceNotFound.response(format!("no route for {method} {path}"));
    }
    let allow = allowed.iter().map(hyper::Method::as_str).collect::<Vec<_>>().join(", ");
    let mut resp = AwsError::MethodNotAllowed.response(format!("{path} does not take {method}; it takes {allow}"));
    resp.headers_mut().insert(hyper::header::ALLOW, hyper::header::HeaderValue::from_str(&allow).expect("method names are header-safe"));
    resp
}

/// A function URL whose config says `AuthType: NONE` takes calls without credentials.
fn public_url(invoker: &skiff_invoker::Invoker, route: &Route<'_>) -> bool {
    matches!(route, Route::FunctionUrl { function, .. } if invoker.url_is_public(function))
}
