//! Keeps `docs/openapi.json` in step with the router: every operation it describes parses into
//! the route of that operation id, and every native route has its operation there. A route
//! added without a decision here does not compile ([`operation_id`] has no catch-all arm).

use super::{parse, Route};
use hyper::Method;
use std::collections::BTreeSet;

const DOCUMENT: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json"));

/// The native API's operation of `route`; `None` for the Lambda API, function URLs, the
/// service proxy and the node-to-node channel, which are documented in `docs/api.md`.
fn operation_id(route: &Route<'_>) -> Option<&'static str> {
    use Route::*;
    Some(match route {
        Invoke { .. } | Lambda(_) | FunctionUrl { .. } | ServiceProxy { .. } | Internal(_) | Unknown => return None,
        Health => "health",
        Metrics => "metrics",
        ListFunctions => "listFunctions",
        DeployFunction { .. } => "deployFunction",
        GetFunction { .. } => "getFunction",
        DeleteFunction { .. } => "deleteFunction",
        FunctionLogs { .. } => "functionLogs",
        AcceptEvent { .. } => "acceptEvent",
        InvocationStatus { .. } => "invocationStatus",
        FunctionDeadLetters { .. } => "functionDeadLetters",
        FunctionDeadLetter { .. } => "functionDeadLetter",
        RedriveFunction { id: None, .. } => "redriveFunction",
        RedriveFunction { id: Some(_), .. } => "redriveFunctionMessage",
        ListTriggers => "listTriggers",
        AddTrigger => "addTrigger",
        GetTrigger { .. } => "getTrigger",
        RemoveTrigger { .. } => "removeTrigger",
        TriggerDeadLetters { .. } => "triggerDeadLetters",
        TriggerDeadLetter { .. } => "triggerDeadLetter",
        RedriveTrigger { message: None, .. } => "redriveTrigger",
        RedriveTrigger { message: Some(_), .. } => "redriveTriggerMessage",
        ListServices => "listServices",
        DeployService { .. } => "deployService",
        GetService { .. } => "getService",
        DeleteService { .. } => "deleteService",
        ScaleService { .. } => "scaleService",
        ServiceEndpoints { .. } => "serviceEndpoints",
        ServiceLogs { .. } => "serviceLogs",
        RunTask => "runTask",
        ListTasks => "listTasks",
        GetTask { .. } => "getTask",
        StopTask { .. } => "stopTask",
        TaskLogs { .. } => "taskLogs",
        ListNodes => "listNodes",
        CreateKey => "createKey",
        ListKeys => "listKeys",
        DeleteKey { .. } => "deleteKey",
    })
}

/// Every operation id [`operation_id`] can return.
const NATIVE: [&str; 37] = [
    "health",
    "metrics",
    "listFunctions",
    "deployFunction",
    "getFunction",
    "deleteFunction",
    "functionLogs",
    "acceptEvent",
    "invocationStatus",
    "functionDeadLetters",
    "functionDeadLetter",
    "redriveFunction",
    "redriveFunctionMessage",
    "listTriggers",
    "addTrigger",
    "getTrigger",
    "removeTrigger",
    "triggerDeadLetters",
    "triggerDeadLetter",
    "redriveTrigger",
    "redriveTriggerMessage",
    "listServices",
    "deployService",
    "getService",
    "deleteService",
    "scaleService",
    "serviceEndpoints",
    "serviceLogs",
    "runTask",
    "listTasks",
    "getTask",
    "stopTask",
    "taskLogs",
    "listNodes",
    "createKey",
    "listKeys",
    "deleteKey",
];

/// `/v1/functions/{name}` with every parameter filled in.
fn concrete(template: &str) -> String {
    template.split('/').map(|s| if s.starts_with('{') { "p1" } else { s }).collect::<Vec<_>>().join("/")
}

#[test]
fn the_openapi_document_describes_exactly_the_native_routes() {
    let doc: serde_json::Value = serde_json::from_str(DOCUMENT).expect("docs/openapi.json is JSON");
    let mut documented = BTreeSet::new();
    for (template, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            let Ok(method) = Method::from_bytes(method.to_uppercase().as_bytes()) else { continue };
            if method == Method::OPTIONS || method.as_str() == "PARAMETERS" {
                continue;
            }
            let Some(id) = operation["operationId"].as_str() else { continue };
            let path = concrete(template);
            let route = parse(&method, &path, None);
            assert_eq!(operation_id(&route), Some(id), "{method} {template} is documented as {id} but routes to {route:?}");
            documented.insert(id);
        }
    }
    let native: BTreeSet<&str> = NATIVE.into_iter().collect();
    let missing: Vec<_> = native.difference(&documented).collect();
    assert!(missing.is_empty(), "native operations missing from docs/openapi.json: {missing:?}");
}
