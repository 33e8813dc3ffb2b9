//! The native API against its OpenAPI description (`docs/openapi.json`), by schemathesis
//! (PyPI, installed by scripts/install-deps.sh) on a live server with a token: generated valid
//! and invalid requests for every operation, a bounded number each, with a fixed seed. No answer
//! may be a 5xx, every answer must match its documented status, type and schema, invalid input
//! must be refused, and a refused request must change nothing (the check in
//! `tests/schemathesis/skiff_hooks.py` compares what the server holds before and after).
//!
//! Before the run the test makes one of each thing an operation acts on — a function with a
//! dead letter, an accepted event, a trigger with a dead letter, a task, an access key — and
//! points those operations' path parameters at them (a schemathesis config file), so they are
//! tested past their 404.

mod common;

use common::{deploy_body, eventually, fixture, Server};
use reqwest::blocking::RequestBuilder;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const TOKEN: &str = "openapi-test-token";
/// Examples per operation and phase: enough to reach each field's edge cases, bounded in time.
const MAX_EXAMPLES: &str = "10";
/// The image the task runs (built by scripts/build-images.sh).
const TASK_IMAGE: &str = "skiff-examples/hello-service:latest";

/// Requests as the token's holder.
struct Api<'a>(&'a Server);

impl Api<'_> {
    fn send(&self, request: RequestBuilder) -> Value {
        let resp = request.bearer_auth(TOKEN).send().unwrap();
        let status = resp.status();
        let body: Value = resp.json().unwrap_or(Value::Null);
        assert!(status.is_success(), "{status}: {body}");
        body
    }

    fn post(&self, path: &str, body: Value) -> Value {
        self.send(self.0.http().post(format!("{}{path}", self.0.url)).json(&body))
    }

    fn put(&self, path: &str, body: Value) -> Value {
        self.send(self.0.http().put(format!("{}{path}", self.0.url)).json(&body))
    }

    fn get(&self, path: &str) -> Value {
        self.send(self.0.http().get(format!("{}{path}", self.0.url)))
    }

    fn deploy(&self, name: &str, fixture_name: &str, settings: Value) {
        self.put(&format!("/v1/functions/{name}"), deploy_body(Some(&fixture(fixture_name)), settings));
    }

    /// The ids of the first two messages of a dead-letter listing at `path`, once there are two.
    fn two_dead_letters(&self, path: &str) -> (String, String) {
        let mut ids = Vec::new();
        let found = eventually(Duration::from_secs(20), || {
            let page = self.get(path);
            ids = page["messages"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_string()).collect();
            ids.len() >= 2
        });
        assert!(found, "fewer than two dead letters reached {path}: {ids:?}");
        (ids[0].clone(), ids[1].clone())
    }

    fn trigger(&self, function: &str, queue: &str) -> String {
        let trigger = self.post("/v1/triggers", json!({ "function": function, "queue": queue, "batch_size": 1, "max_retries": 0 }));
        trigger["id"].as_str().unwrap().to_string()
    }
}

/// Operations (by their name in the report, "METHOD /path") and the values their path
/// parameters take.
struct Pinned {
    operations: &'static [&'static str],
    parameters: Vec<(&'static str, String)>,
}

/// Makes what the operations act on, and says which operations take which of it.
///
/// - `echo` (the document's example name) passes each result on to queue `results`, where a
///   trigger hands it to `broken`, which traps: an event gives an invocation id and a dead letter
///   of the trigger. `broken`'s own events are not retried, so each gives a dead letter of the
///   function.
/// - Schemathesis orders operations as it likes and reuses names it has seen in answers, so
///   whatever an operation consumes is its own: one dead letter to read and another to redrive,
///   an idle function and trigger whose dead-letter queues are redriven whole, a function, a
///   trigger and an access key to delete.
fn seed(api: &Api) -> Vec<Pinned> {
    api.deploy("echo", "echo", json!({ "events": { "on_success": "queue:results" } }));
    api.deploy("broken", "trap", json!({ "events": { "max_retries": 0 } }));
    api.deploy("idle", "noop", json!({}));
    api.deploy("doomed", "noop", json!({}));
    let trigger = api.trigger("broken", "results");
    let idle_trigger = api.trigger("idle", "idle");
    let doomed_trigger = api.trigger("idle", "doomed");
    let invocation = api.post("/v1/functions/echo/events", json!({ "from": "the openapi test" }))["request_id"].as_str().unwrap().to_string();
    api.post("/v1/functions/echo/events", json!({ "from": "the openapi test, again" }));
    for n in 0..2 {
        api.post("/v1/functions/broken/events", json!({ "to the dead-letter queue": n }));
    }
    let (function_read, function_redriven) = api.two_dead_letters("/v1/functions/broken/dlq");
    let (trigger_read, trigger_redriven) = api.two_dead_letters(&format!("/v1/triggers/{trigger}/dlq"));
    let definition = json!({ "family": "openapi", "memory": "64", "containerDefinitions": [
        { "name": "main", "image": TASK_IMAGE, "command": ["sleep", "600000"] }
    ]});
    let tasks = api.post("/v1/tasks", json!({ "task_definition": definition, "timeout_s": 300 }));
    let task = tasks["tasks"][0]["taskId"].as_str().unwrap().to_string();
    let key = api.post(
        "/v1/keys",
        json!({ "name": "openapi", "policy": { "Version": "2012-10-17", "Statement": [
            { "Effect": "Allow", "Action": "lambda:GetFunction", "Resource": "*" }
        ]}}),
    );
    let key = key["AccessKey"]["AccessKeyId"].as_str().unwrap().to_string();

    let id = |value: &String| vec![("path.id", value.clone())];
    let name = |value: &str| vec![("path.name", value.to_string())];
    let function_letter = |letter: String| vec![("path.name", "broken".to_string()), ("path.id", letter)];
    let trigger_letter = |letter: String| vec![("path.id", trigger.clone()), ("path.message", letter)];
    vec![
        Pinned { operations: &["GET /v1/invocations/{id}"], parameters: id(&invocation) },
        Pinned { operations: &["GET /v1/functions/{name}/dlq"], parameters: name("broken") },
        Pinned { operations: &["POST /v1/functions/{name}/dlq/redrive"], parameters: name("idle") },
        Pinned { operations: &["DELETE /v1/functions/{name}"], parameters: name("doomed") },
        Pinned { operations: &["GET /v1/functions/{name}/dlq/{id}"], parameters: function_letter(function_read) },
        Pinned { operations: &["POST /v1/functions/{name}/dlq/{id}/redrive"], parameters: function_letter(function_redriven) },
        Pinned { operations: &["GET /v1/triggers/{id}", "GET /v1/triggers/{id}/dlq"], parameters: id(&trigger) },
        Pinned { operations: &["POST /v1/triggers/{id}/dlq/redrive"], parameters: id(&idle_trigger) },
        Pinned { operations: &["DELETE /v1/triggers/{id}"], parameters: id(&doomed_trigger) },
        Pinned { operations: &["GET /v1/triggers/{id}/dlq/{message}"], parameters: trigger_letter(trigger_read) },
        Pinned { operations: &["POST /v1/triggers/{id}/dlq/{message}/redrive"], parameters: trigger_letter(trigger_redriven) },
        Pinned { operations: &["GET /v1/tasks/{id}", "GET /v1/tasks/{id}/logs", "POST /v1/tasks/{id}/stop"], parameters: id(&task) },
        Pinned { operations: &["DELETE /v1/keys/{id}"], parameters: id(&key) },
    ]
}

/// The schemathesis config that pins those parameters.
fn config(pinned: &[Pinned]) -> String {
    let quoted = |s: &str| serde_json::to_string(s).unwrap();
    let mut out = String::new();
    for p in pinned {
        let names: Vec<String> = p.operations.iter().map(|n| quoted(n)).collect();
        let parameters: Vec<String> = p.parameters.iter().map(|(k, v)| format!("{} = {}", quoted(k), quoted(v))).collect();
        out.push_str(&format!("[[operations]]\ninclude-name = [{}]\nparameters = {{ {} }}\n\n", names.join(", "), parameters.join(", ")));
    }
    out
}

#[test]
fn schemathesis_finds_no_server_error_and_no_refusal_that_changes_anything() {
    let server = Server::start_with(&["--token", TOKEN]);
    let api = Api(&server);
    let pinned = seed(&api);
    let work = tempfile::tempdir().unwrap();
    let config_file = work.path().join("schemathesis.toml");
    std::fs::write(&config_file, config(&pinned)).unwrap();
    let reports = work.path().join("reports");

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("st")
        .current_dir(root)
        .arg("--config-file")
        .arg(&config_file)
        .args(["run", "docs/openapi.json", "--url", &server.url])
        .args(["-H", &format!("Authorization: Bearer {TOKEN}")])
        // A schema-valid request can still be refused for what no schema says (an image not in
        // the engine, a name nobody deployed, a callback host that does not resolve), so the
        // one check that expects every valid request to succeed is left out.
        .args(["--checks", "all", "--exclude-checks", "positive_data_acceptance"])
        .args(["--phases", "examples,coverage,fuzzing", "--max-examples", MAX_EXAMPLES, "--seed", "20261203"])
        .args(["--request-timeout", "30", "--no-color", "--report", "har", "--report-dir"])
        .arg(&reports)
        .env("SCHEMATHESIS_HOOKS", "skiff_hooks")
        .env("PYTHONPATH", root.join("tests/schemathesis"))
        .env("SKIFF_URL", &server.url)
        .env("SKIFF_TOKEN", TOKEN)
        .output()
        .expect("schemathesis (`st`) is installed by scripts/install-deps.sh");
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "schemathesis found failures:\n{report}");
    assert!(report.contains("Tested: 37"), "every operation was tested:\n{report}");
    let answered = answers(&reports);
    for p in &pinned {
        for operation in p.operations {
            let (method, path) = concrete(operation, &p.parameters);
            let ok = answered.iter().any(|(m, u, status)| *m == method && u.split('?').next() == Some(path.as_str()) && (200..300).contains(status));
            assert!(ok, "{operation} never succeeded on {path}: its parameters were not pinned");
        }
    }
    // And the server is still there, answering.
    assert_eq!(server.get("/healthz").status(), 200, "{}", server.stderr());
}

/// Every request of the run with its answer: method, path and query, status.
fn answers(reports: &Path) -> Vec<(String, String, u64)> {
    let mut out = Vec::new();
    for file in std::fs::read_dir(reports).unwrap() {
        let har: Value = serde_json::from_slice(&std::fs::read(file.unwrap().path()).unwrap()).unwrap();
        for entry in har["log"]["entries"].as_array().unwrap() {
            let url = entry["request"]["url"].as_str().unwrap();
            let path = url.splitn(4, '/').nth(3).map(|p| format!("/{p}")).unwrap_or_default();
            let status = entry["response"]["status"].as_u64().unwrap_or(0);
            out.push((entry["request"]["method"].as_str().unwrap().to_string(), path, status));
        }
    }
    out
}

/// "METHOD /v1/x/{id}" with its parameters filled in: the method and the path.
fn concrete(operation: &str, parameters: &[(&str, String)]) -> (String, String) {
    let (method, template) = operation.split_once(' ').unwrap();
    let path = parameters.iter().fold(template.to_string(), |path, (name, value)| path.replace(&format!("{{{}}}", name.trim_start_matches("path.")), value));
    (method.to_string(), path)
}
