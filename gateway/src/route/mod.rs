//! Requests parsed into typed routes by a pure function: method and path in, [`Route`] out.
//! Unit-tested without a server; the router only dispatches what this returns.

mod lambda;
#[cfg(test)]
mod openapi;

use hyper::Method;
pub(crate) use lambda::LambdaRoute;

/// Every operation the gateway serves, with the names it was given in the path.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Route<'a> {
    Health,
    Metrics,
    /// `POST /2015-03-31/functions/{ref}/invocations` (Lambda's Invoke; `ref` may be an ARN).
    Invoke {
        function: &'a str,
    },
    /// Lambda's control plane (`/2015-03-31/functions...` and its other API versions).
    Lambda(LambdaRoute<'a>),
    /// `ANY /fn/{name}/{path}`: the function's URL, with its own path ("/" when empty).
    FunctionUrl {
        function: &'a str,
        path: &'a str,
    },
    /// `ANY /svc/{name}/{path}`: the service proxy, with the copy's path and query.
    ServiceProxy {
        service: &'a str,
        target: String,
    },
    ListFunctions,
    DeployFunction {
        name: &'a str,
    },
    GetFunction {
        name: &'a str,
    },
    DeleteFunction {
        name: &'a str,
    },
    FunctionLogs {
        name: &'a str,
    },
    AcceptEvent {
        function: &'a str,
    },
    InvocationStatus {
        id: &'a str,
    },
    FunctionDeadLetters {
        function: &'a str,
    },
    FunctionDeadLetter {
        function: &'a str,
        id: &'a str,
    },
    /// One dead letter (`Some`) or all of them.
    RedriveFunction {
        function: &'a str,
        id: Option<&'a str>,
    },
    ListTriggers,
    AddTrigger,
    GetTrigger {
        id: &'a str,
    },
    RemoveTrigger {
        id: &'a str,
    },
    TriggerDeadLetters {
        id: &'a str,
    },
    TriggerDeadLetter {
        id: &'a str,
        message: &'a str,
    },
    RedriveTrigger {
        id: &'a str,
        message: Option<&'a str>,
    },
    ListServices,
    DeployService {
        name: &'a str,
    },
    GetService {
        name: &'a str,
    },
    DeleteService {
        name: &'a str,
    },
    ScaleService {
        name: &'a str,
    },
    ServiceEndpoints {
        name: &'a str,
    },
    ServiceLogs {
        name: &'a str,
    },
    RunTask,
    ListTasks,
    GetTask {
        id: &'a str,
    },
    StopTask {
        id: &'a str,
    },
    TaskLogs {
        id: &'a str,
    },
    /// `GET /v1/nodes`: the cluster's nodes.
    ListNodes,
    CreateKey,
    ListKeys,
    DeleteKey {
        id: &'a str,
    },
    /// `/internal/v1/...`: node-to-node routes, behind the cluster secret.
    Internal(Internal<'a>),
    Unknown,
}

/// The internal channel's routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Internal<'a> {
    GetBlob {
        sha256: &'a str,
    },
    PutBlob {
        sha256: &'a str,
    },
    Load,
    /// This node's own record of an asynchronous invocation.
    Invocation {
        id: &'a str,
    },
    /// This node's own log entries of a function.
    FunctionLogs {
        name: &'a str,
    },
    /// The scheduler's orders to this node's agent, and what it asks of the copies here.
    StartCopy,
    ListCopies,
    StopCopy {
        id: &'a str,
    },
    CopyStopped {
        id: &'a str,
    },
    CopyLogs {
        id: &'a str,
    },
    StartTask,
    ReapTask,
}

impl Internal<'_> {
    /// Whether this node's agent answers it.
    pub(crate) fn is_agents(&self) -> bool {
        matches!(
            self,
            Internal::StartCopy
                | Internal::ListCopies
                | Internal::StopCopy { .. }
                | Internal::CopyStopped { .. }
                | Internal::CopyLogs { .. }
                | Internal::StartTask
                | Internal::ReapTask
        )
    }
}

/// Everything after `{prefix}{name}`: the function's or service's own path ("/" when empty).
fn path_after<'a>(path: &'a str, prefix: &str, name: &str) -> &'a str {
    let rest = &path[(prefix.len() + name.len()).min(path.len())..];
    if rest.is_empty() {
        "/"
    } else {
        rest
    }
}

pub(crate) fn parse<'a>(method: &Method, path: &'a str, query: Option<&str>) -> Route<'a> {
    if path == "/healthz" {
        return match *method {
            Method::GET | Method::HEAD => Route::Health,
            _ => Route::Unknown,
        };
    }
    let segments: Vec<&'a str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["fn", function, ..] => Route::FunctionUrl { function, path: path_after(path, "/fn/", function) },
        ["svc", service, ..] => {
            let mut target = path_after(path, "/svc/", service).to_string();
            if let Some(q) = query {
                target.push('?');
                target.push_str(q);
            }
            Route::ServiceProxy { service, target }
        }
        ["v1", "functions", ..] | ["v1", "invocations", ..] => functions_api(method, &segments[1..]),
        ["v1", "triggers", ..] => triggers_api(method, &segments[2..]),
        ["v1", "services", ..] => services_api(method, &segments[2..]),
        ["v1", "tasks", ..] => tasks_api(method, &segments[2..]),
        ["2015-03-31", "functions", function, "invocations"] if method == Method::POST => Route::Invoke { function },
        [version, ..] if version.len() == 10 && version.starts_with("20") => {
            let trimmed = segments.strip_suffix(&[""]).unwrap_or(&segments);
            lambda::parse(method, trimmed).map_or(Route::Unknown, Route::Lambda)
        }
        ["metrics"] if method == Method::GET => Route::Metrics,
        ["v1", "nodes"] if method == Method::GET => Route::ListNodes,
        ["v1", "keys"] if method == Method::POST => Route::CreateKey,
        ["v1", "keys"] if method == Method::GET => Route::ListKeys,
        ["v1", "keys", id] if method == Method::DELETE => Route::DeleteKey { id },
        ["internal", "v1", rest @ ..] => internal_api(method, rest),
        _ => Route::Unknown,
    }
}

/// The methods `path` has routes for: a request with another method on it is answered 405 with
/// these in `Allow`, not 404 (empty when the path itself is unknown).
pub(crate) fn allowed_methods(path: &str) -> Vec<Method> {
    [Method::GET, Method::HEAD, Method::PUT, Method::POST, Method::DELETE].into_iter().filter(|m| parse(m, path, None) != Route::Unknown).collect()
}

/// `/internal/v1/...`.
fn internal_api<'a>(method: &Method, rest: &[&'a str]) -> Route<'a> {
    match (method, rest) {
        (&Method::GET, ["blobs", sha256]) => Route::Internal(Internal::GetBlob { sha256 }),
        (&Method::PUT, ["blobs", sha256]) => Route::Internal(Internal::PutBlob { sha256 }),
        (&Method::GET, ["load"]) => Route::Internal(Internal::Load),
        (&Method::GET, ["invocations", id]) => Route::Internal(Internal::Invocation { id }),
        (&Method::GET, ["functions", name, "logs"]) => Route::Internal(Internal::FunctionLogs { name }),
        (&Method::POST, ["copies"]) => Route::Internal(Internal::StartCopy),
        (&Method::GET, ["copies"]) => Route::Internal(Internal::ListCopies),
        (&Method::POST, ["copies", id, "stop"]) => Route::Internal(Internal::StopCopy { id }),
        (&Method::GET, ["copies", id, "stopped"]) => Route::Internal(Internal::CopyStopped { id }),
        (&Method::GET, ["copies", id, "logs"]) => Route::Internal(Internal::CopyLogs { id }),
        (&Method::POST, ["tasks"]) => Route::Internal(Internal::StartTask),
        (&Method::POST, ["tasks", "reap"]) => Route::Internal(Internal::ReapTask),
        _ => Route::Unknown,
    }
}

/// `/v1/functions/...` and `/v1/invocations/{id}`.
fn functions_api<'a>(method: &Method, rest: &[&'a str]) -> Route<'a> {
    match (method.clone(), rest) {
        (Method::GET, ["functions"]) => Route::ListFunctions,
        (Method::PUT, ["functions", name]) => Route::DeployFunction { name },
        (Method::GET, ["functions", name]) => Route::GetFunction { name },
        (Method::DELETE, ["functions", name]) => Route::DeleteFunction { name },
        (Method::GET, ["functions", name, "logs"]) => Route::FunctionLogs { name },
        (Method::POST, ["functions", function, "events"]) => Route::AcceptEvent { function },
        (Method::GET, ["invocations", id]) => Route::InvocationStatus { id },
        (Method::GET, ["functions", function, "dlq"]) => Route::FunctionDeadLetters { function },
        // `redrive` names the action, never a message: ids are UUIDs.
        (Method::GET, ["functions", function, "dlq", id]) if *id != "redrive" => Route::FunctionDeadLetter { function, id },
        (Method::POST, ["functions", function, "dlq", "redrive"]) => Route::RedriveFunction { function, id: None },
        (Method::POST, ["functions", function, "dlq", id, "redrive"]) => Route::RedriveFunction { function, id: Some(id) },
        _ => Route::Unknown,
    }
}

/// `/v1/triggers/...`, after the prefix.
fn triggers_api<'a>(method: &Method, rest: &[&'a str]) -> Route<'a> {
    match (method.clone(), rest) {
        (Method::GET, []) => Route::ListTriggers,
        (Method::POST, []) => Route::AddTrigger,
        (Method::GET, [id]) => Route::GetTrigger { id },
        (Method::DELETE, [id]) => Route::RemoveTrigger { id },
        (Method::GET, [id, "dlq"]) => Route::TriggerDeadLetters { id },
        (Method::GET, [id, "dlq", message]) if *message != "redrive" => Route::TriggerDeadLetter { id, message },
        (Method::POST, [id, "dlq", "redrive"]) => Route::RedriveTrigger { id, message: None },
        (Method::POST, [id, "dlq", message, "redrive"]) => Route::RedriveTrigger { id, message: Some(message) },
        _ => Route::Unknown,
    }
}

/// `/v1/services/...`, after the prefix.
fn services_api<'a>(method: &Method, rest: &[&'a str]) -> Route<'a> {
    match (method.clone(), rest) {
        (Method::GET, []) => Route::ListServices,
        (Method::PUT, [name]) => Route::DeployService { name },
        (Method::GET, [name]) => Route::GetService { name },
        (Method::DELETE, [name]) => Route::DeleteService { name },
        (Method::POST, [name, "scale"]) => Route::ScaleService { name },
        (Method::GET, [name, "endpoints"]) => Route::ServiceEndpoints { name },
        (Method::GET, [name, "logs"]) => Route::ServiceLogs { name },
        _ => Route::Unknown,
    }
}

/// `/v1/tasks/...`.
fn tasks_api<'a>(method: &Method, rest: &[&'a str]) -> Route<'a> {
    match (method.clone(), rest) {
        (Method::POST, []) => Route::RunTask,
        (Method::GET, []) => Route::ListTasks,
        (Method::GET, [id]) => Route::GetTask { id },
        (Method::POST, [id, "stop"]) => Route::StopTask { id },
        (Method::GET, [id, "logs"]) => Route::TaskLogs { id },
        _ => Route::Unknown,
    }
}

#[cfg(test)]
mod fuzz {
    use hyper::Method;

    /// Input: `METHOD path?query`, as a request line without its version.
    #[test]
    fn routes_never_panic() {
        skiff_fuzz::run("route", skiff_fuzz::ROUNDS, |input| {
            let line = String::from_utf8_lossy(input);
            let (method, target) = line.split_once(' ').unwrap_or(("GET", &line));
            let method = Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET);
            let (path, query) = match target.split_once('?') {
                Some((path, query)) => (path, Some(query)),
                None => (target, None),
            };
            let _ = super::parse(&method, path, query);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse_into_routes() {
        let get = |p| parse(&Method::GET, p, None);
        let post = |p| parse(&Method::POST, p, None);
        assert_eq!(get("/healthz"), Route::Health);
        assert_eq!(post("/2015-03-31/functions/echo/invocations"), Route::Invoke { function: "echo" });
        assert_eq!(get("/2015-03-31/functions/echo/invocations"), Route::Unknown);
        assert_eq!(get("/fn/echo"), Route::FunctionUrl { function: "echo", path: "/" });
        assert_eq!(get("/fn/echo/a/b"), Route::FunctionUrl { function: "echo", path: "/a/b" });
        assert_eq!(parse(&Method::DELETE, "/svc/web/x", Some("q=1")), Route::ServiceProxy { service: "web", target: "/x?q=1".into() });
        assert_eq!(parse(&Method::PUT, "/v1/functions/f", None), Route::DeployFunction { name: "f" });
        assert_eq!(get("/v1/invocations/r1"), Route::InvocationStatus { id: "r1" });
        assert_eq!(post("/v1/functions/f/dlq/redrive"), Route::RedriveFunction { function: "f", id: None });
        assert_eq!(post("/v1/functions/f/dlq/m1/redrive"), Route::RedriveFunction { function: "f", id: Some("m1") });
        assert_eq!(post("/v1/triggers"), Route::AddTrigger);
        assert_eq!(get("/v1/triggers/t1/dlq/m1"), Route::TriggerDeadLetter { id: "t1", message: "m1" });
        assert_eq!(post("/v1/services/web/scale"), Route::ScaleService { name: "web" });
        assert_eq!(post("/v1/tasks"), Route::RunTask);
        assert_eq!(get("/v1/tasks"), Route::ListTasks);
        assert_eq!(get("/v1/tasks/t1"), Route::GetTask { id: "t1" });
        assert_eq!(post("/v1/tasks/t1/stop"), Route::StopTask { id: "t1" });
        assert_eq!(get("/v1/tasks/t1/logs"), Route::TaskLogs { id: "t1" });
        assert_eq!(post("/internal/v1/tasks"), Route::Internal(Internal::StartTask));
        assert_eq!(post("/internal/v1/tasks/reap"), Route::Internal(Internal::ReapTask));
        assert_eq!(get("/metrics"), Route::Metrics);
        assert_eq!(get("/v1/nodes"), Route::ListNodes);
        assert_eq!(get("/internal/v1/blobs/ab12"), Route::Internal(Internal::GetBlob { sha256: "ab12" }));
        assert_eq!(parse(&Method::PUT, "/internal/v1/blobs/ab12", None), Route::Internal(Internal::PutBlob { sha256: "ab12" }));
        assert_eq!(get("/internal/v1/load"), Route::Internal(Internal::Load));
        assert_eq!(get("/internal/v1/invocations/r1"), Route::Internal(Internal::Invocation { id: "r1" }));
        assert_eq!(get("/internal/v1/functions/f/logs"), Route::Internal(Internal::FunctionLogs { name: "f" }));
        assert_eq!(parse(&Method::POST, "/internal/v1/copies", None), Route::Internal(Internal::StartCopy));
        assert_eq!(get("/internal/v1/copies"), Route::Internal(Internal::ListCopies));
        assert_eq!(parse(&Method::POST, "/internal/v1/copies/c1/stop", None), Route::Internal(Internal::StopCopy { id: "c1" }));
        assert_eq!(get("/internal/v1/copies/c1/stopped"), Route::Internal(Internal::CopyStopped { id: "c1" }));
        assert_eq!(get("/internal/v1/copies/c1/logs"), Route::Internal(Internal::CopyLogs { id: "c1" }));
        for unknown in ["/", "/v1", "/v1/functions/f/nope", "/v2/functions", "/internal/v1/nope", "/internal/v1/blobs"] {
            assert_eq!(get(unknown), Route::Unknown, "{unknown}");
        }
        assert_eq!(parse(&Method::PATCH, "/v1/services/web", None), Route::Unknown);
        assert_eq!(parse(&Method::DELETE, "/healthz", None), Route::Unknown);
    }

    #[test]
    fn a_known_path_names_the_methods_it_takes() {
        assert_eq!(allowed_methods("/v1/functions/f"), [Method::GET, Method::PUT, Method::DELETE]);
        assert_eq!(allowed_methods("/healthz"), [Method::GET, Method::HEAD]);
        assert_eq!(allowed_methods("/v1/tasks"), [Method::GET, Method::POST]);
        assert_eq!(allowed_methods("/v1/functions/f/dlq/redrive"), [Method::POST], "redrive is an action, not a message id");
        assert!(allowed_methods("/v1/nothing").is_empty());
    }
}
