//! Amazon ECS task definitions on one node: a service of an app and a sidecar it reaches over
//! localhost, one-off tasks with their exit codes, output, timeout and stop, and the fields
//! Skiff does not carry over refused by name.

mod common;

use common::{eventually, Server};
use serde_json::{json, Value};
use std::time::Duration;

const IMAGE: &str = "skiff-examples/hello-service:latest";

fn write_json(dir: &std::path::Path, name: &str, value: &Value) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec_pretty(value).unwrap()).unwrap();
    path
}

/// An app on 8080 that waits for its sidecar (on 9090) to be healthy, as ECS would run them.
fn app_with_sidecar(family: &str) -> Value {
    json!({
        "family": family,
        "cpu": "256", "memory": "128",
        "containerDefinitions": [
            {"name": "app", "image": IMAGE, "essential": true,
             "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
             "environment": [{"name": "GREETING", "value": "from the app"}],
             "dependsOn": [{"containerName": "sidecar", "condition": "HEALTHY"}]},
            {"name": "sidecar", "image": IMAGE, "essential": false,
             "environment": [{"name": "PORT", "value": "9090"}, {"name": "GREETING", "value": "from the sidecar"}],
             "healthCheck": {"command": ["CMD", "/hello-service", "probe", "9090"], "interval": 5, "timeout": 2, "retries": 3}}
        ]
    })
}

fn task_definition(family: &str, containers: Value) -> Value {
    json!({"family": family, "memory": "64", "containerDefinitions": containers})
}

fn run_task(server: &Server, body: Value) -> Vec<Value> {
    let resp = server.http().post(format!("{}/v1/tasks", server.url)).json(&body).send().unwrap();
    assert!(resp.status().is_success(), "{}", resp.text().unwrap());
    resp.json::<Value>().unwrap()["tasks"].as_array().unwrap().clone()
}

fn task(server: &Server, id: &str) -> Value {
    server.get(&format!("/v1/tasks/{id}")).json().unwrap()
}

fn stopped(server: &Server, id: &str, within: Duration) -> Value {
    assert!(eventually(within, || task(server, id)["lastStatus"] == "STOPPED"), "{}", task(server, id));
    task(server, id)
}

#[test]
fn a_service_from_a_task_definition_serves_and_its_app_reaches_the_sidecar_over_localhost() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let name = common::queues::unique("web");
    let file = write_json(dir.path(), "web.json", &app_with_sidecar(&name));
    let out = server.cli(&["service", "deploy", "--task-definition", file.to_str().unwrap(), "--health-path", "/healthz", "--wait"]);
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let (status, body) = common::json_body(server.get(&format!("/svc/{name}/")));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message"], "from the app", "/svc reaches the first essential container's port");
    let (status, body) = common::json_body(server.get(&format!("/svc/{name}/fetch?port=9090&path=/")));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["fetched_status"], 200);
    assert_eq!(body["fetched"]["message"], "from the sidecar", "the app reached its sidecar over localhost");
    // Both containers run as one copy: one copy listed, two containers on the engine.
    let service: Value = server.get(&format!("/v1/services/{name}")).json().unwrap();
    assert_eq!(service["copies"].as_array().unwrap().len(), 1);
    assert_eq!(service["spec"]["containers"].as_array().unwrap().len(), 2);
    assert_eq!(server.containers(&[("skiff.service", name.as_str())]).len(), 2);
    let logs = server.get(&format!("/v1/services/{name}/logs")).text().unwrap();
    assert!(logs.contains("--- container app ---") && logs.contains("--- container sidecar ---"), "{logs}");
    // Deleting the service removes both.
    assert!(server.http().delete(format!("{}/v1/services/{name}", server.url)).send().unwrap().status().is_success());
    assert!(eventually(Duration::from_secs(20), || server.containers(&[("skiff.service", name.as_str())]).is_empty()));
}

#[test]
fn a_one_off_task_reports_its_exit_code_and_keeps_its_output() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let family = common::queues::unique("job");
    let def = task_definition(&family, json!([{"name": "main", "image": IMAGE, "command": ["exit", "7", "hello from the task"]}]));
    let file = write_json(dir.path(), "job.json", &def);
    let out = server.cli(&["task", "run", "--task-definition", file.to_str().unwrap(), "--wait", "--json"]);
    assert_eq!(out.status.code(), Some(7), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let described: Value = serde_json::from_slice(&out.stdout).unwrap();
    let t = &described["tasks"][0];
    assert_eq!(t["lastStatus"], "STOPPED");
    assert_eq!(t["stopCode"], "EssentialContainerExited");
    assert_eq!(t["containers"][0]["exitCode"], 7);
    assert!(t["taskArn"].as_str().unwrap().starts_with("arn:aws:ecs:"));
    let id = t["taskId"].as_str().unwrap();
    // Its containers are gone; its output stays.
    assert!(common::owned_containers(&server.owner(), &[("skiff.task", id)]).is_empty());
    let logs = server.cli(&["task", "logs", id]);
    assert!(String::from_utf8_lossy(&logs.stdout).contains("hello from the task"));
    let listed = server.cli(&["task", "ls"]);
    assert!(String::from_utf8_lossy(&listed.stdout).contains(id));
}

#[test]
fn an_essential_containers_exit_stops_the_task_and_its_sidecar() {
    let server = Server::start();
    let family = common::queues::unique("batch");
    let def = task_definition(
        &family,
        json!([
            {"name": "sidecar", "image": IMAGE, "essential": false, "environment": [{"name": "PORT", "value": "9090"}]},
            {"name": "main", "image": IMAGE, "command": ["sleep", "1500"], "dependsOn": [{"containerName": "sidecar", "condition": "START"}]}
        ]),
    );
    let tasks = run_task(&server, json!({"task_definition": def, "count": 2}));
    assert_eq!(tasks.len(), 2);
    for t in tasks {
        let id = t["taskId"].as_str().unwrap();
        let done = stopped(&server, id, Duration::from_secs(30));
        assert_eq!(done["stopCode"], "EssentialContainerExited", "{done}");
        let codes: Vec<(String, Value)> =
            done["containers"].as_array().unwrap().iter().map(|c| (c["name"].as_str().unwrap().to_string(), c["exitCode"].clone())).collect();
        assert!(codes.contains(&("main".into(), json!(0))), "{codes:?}");
        assert!(codes.iter().any(|(n, _)| n == "sidecar"), "{codes:?}");
        assert!(common::owned_containers(&server.owner(), &[("skiff.task", id)]).is_empty(), "the sidecar was stopped with it");
    }
}

#[test]
fn a_task_past_its_timeout_or_stopped_by_hand_stops_with_that_code() {
    let server = Server::start();
    let family = common::queues::unique("slow");
    let def = task_definition(&family, json!([{"name": "main", "image": IMAGE, "command": ["sleep", "600000"]}]));
    let timed = run_task(&server, json!({"task_definition": def, "timeout_s": 1}));
    let stopped_by_hand = run_task(&server, json!({"task_definition": def}));
    let hand = stopped_by_hand[0]["taskId"].as_str().unwrap();
    assert!(eventually(Duration::from_secs(20), || task(&server, hand)["lastStatus"] == "RUNNING"));
    let out = server.cli(&["task", "stop", hand]);
    assert!(out.status.success());
    let done = stopped(&server, hand, Duration::from_secs(30));
    assert_eq!(done["stopCode"], "UserInitiated", "{done}");
    let done = stopped(&server, timed[0]["taskId"].as_str().unwrap(), Duration::from_secs(30));
    assert_eq!(done["stopCode"], "Timeout", "{done}");
    assert!(done["stoppedReason"].as_str().unwrap().contains("timeout"));
}

#[test]
fn ecs_fields_skiff_does_not_carry_over_are_refused_by_name_and_change_nothing() {
    let server = Server::start();
    let name = common::queues::unique("refused");
    let mut def = app_with_sidecar(&name);
    def["containerDefinitions"][0]["logConfiguration"] = json!({"logDriver": "awslogs"});
    let resp = server.http().put(format!("{}/v1/services/{name}", server.url)).json(&json!({"task_definition": def})).send().unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.text().unwrap().contains("containerDefinitions[0].logConfiguration is not supported"));
    assert_eq!(server.get(&format!("/v1/services/{name}")).status(), 404, "nothing was created");
    let mut def = task_definition(&name, json!([{"name": "main", "image": IMAGE}]));
    def["requiresCompatibilities"] = json!(["FARGATE"]);
    let resp = server.http().post(format!("{}/v1/tasks", server.url)).json(&json!({"task_definition": def})).send().unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.text().unwrap().contains("requiresCompatibilities is not supported"));
    let all: Value = server.get("/v1/tasks").json().unwrap();
    assert!(all["tasks"].as_array().unwrap().iter().all(|t| t["family"] != name.as_str()));
    // An image that does not exist fails the run request itself.
    let def = task_definition(&name, json!([{"name": "main", "image": "skiff-tests/no-such-image:1"}]));
    let resp = server.http().post(format!("{}/v1/tasks", server.url)).json(&json!({"task_definition": def})).send().unwrap();
    assert_eq!(resp.status(), 400, "{}", resp.text().unwrap());
}
