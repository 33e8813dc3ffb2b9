//! Container functions against a real Docker engine: the Runtime API with the unmodified
//! `lambda_runtime` crate, the sandbox, warm pools and scaling, enforcement, and lifecycle.
//! The images are built by scripts/build-functions.sh (FROM scratch, static binaries).

mod common;

use common::{eventually, json_body, owned_containers, Server};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::Duration;

const PROBE: &str = "skiff-tests/probe:latest";

fn deploy_probe(server: &Server, name: &str, settings: Value) -> Value {
    let mut body = settings;
    body["image"] = PROBE.into();
    let resp = server.deploy(name, None, body);
    let (status, body) = json_body(resp);
    assert!(status == 200 || status == 201, "deploy {name}: {status} {body}");
    body
}

/// Invokes and returns (status, function error header, cold?, body).
fn call(server: &Server, name: &str, event: Value) -> (u16, Option<String>, bool, Value) {
    let resp = server.invoke(name, event.to_string());
    let error = resp.headers().get("x-amz-function-error").map(|v| v.to_str().unwrap().to_string());
    let cold = resp.headers().contains_key("x-skiff-init-duration-ms");
    let (status, body) = json_body(resp);
    (status, error, cold, body)
}

fn tail_log(resp: reqwest::blocking::Response) -> (Value, String) {
    use base64::Engine as _;
    let log = resp.headers().get("x-amz-log-result").expect("log result").to_str().unwrap().to_string();
    let log = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(log).unwrap()).unwrap();
    (resp.json().unwrap(), log)
}

#[test]
fn invokes_with_lambda_runtime_and_reuses_warm_containers() {
    let server = Server::start();
    deploy_probe(&server, "probe", json!({ "env": { "MODE": "test" }, "memory_mb": 256 }));

    let (status, error, cold, first) = call(&server, "probe", json!({ "op": "whoami" }));
    assert_eq!((status, error), (200, None), "{first}");
    assert!(cold, "the first call starts a container");
    assert_eq!(first["served"], 1);

    let (_, _, cold, second) = call(&server, "probe", json!({ "op": "whoami" }));
    assert!(!cold, "the second call reuses the warm container");
    assert_eq!(second["container"], first["container"]);
    assert_eq!(second["served"], 2);
    assert_eq!(server.containers(&[("skiff.function", "probe")]).len(), 1);

    // Lambda's environment, plus the function's own.
    let (_, _, _, env) = call(&server, "probe", json!({ "op": "env" }));
    assert_eq!(env["AWS_LAMBDA_FUNCTION_NAME"], "probe");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "256");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_VERSION"], "$LATEST");
    assert_eq!(env["AWS_LAMBDA_RUNTIME_API"], "127.0.0.1:9001");
    assert_eq!(env["AWS_REGION"], "us-east-1");
    assert_eq!(env["AWS_LAMBDA_INITIALIZATION_TYPE"], "on-demand");
    assert_eq!(env["MODE"], "test");
    assert!(env["_X_AMZN_TRACE_ID"].as_str().unwrap().starts_with("Root=1-"), "trace id header reached the runtime: {env}");
    assert!(env.get("SKIFF_TOKEN").is_none());

    // The event arrives unchanged; the runtime's stdout is in this invocation's tail log.
    let resp = server.invoke_with("probe", json!({ "op": "log", "lines": ["first line", "second line"] }).to_string(), &[("X-Amz-Log-Type", "Tail")]);
    let (body, log) = tail_log(resp);
    assert_eq!(body["logged"], 2);
    assert!(log.contains("first line\nsecond line\n"), "{log}");
    assert!(log.starts_with("START RequestId: ") && log.contains("REPORT RequestId: "), "{log}");
    let (_, _, _, echo) = call(&server, "probe", json!({ "op": "echo", "nested": { "n": [1, 2] } }));
    assert_eq!(echo["echo"]["nested"], json!({ "n": [1, 2] }));

    // An error the runtime reports is the caller's function error, document passed through.
    let (status, error, _, body) = call(&server, "probe", json!({ "op": "fail", "message": "no such order" }));
    assert_eq!((status, error.as_deref()), (200, Some("Unhandled")));
    assert_eq!(body["errorMessage"], "no such order", "{body}");
    assert!(body["errorType"].is_string(), "{body}");
    let (_, _, cold, after) = call(&server, "probe", json!({ "op": "whoami" }));
    assert!(!cold && after["container"] == first["container"], "a reported error keeps the container");

    // Over the 6 MB response limit.
    let (status, error, _, body) = call(&server, "probe", json!({ "op": "big", "bytes": 7_000_000 }));
    assert_eq!((status, error.as_deref()), (200, Some("Unhandled")));
    assert_eq!(body["errorType"], "Function.ResponseSizeTooLarge", "{body}");

    let logs = server.cli(&["logs", "probe"]);
    assert!(String::from_utf8_lossy(&logs.stdout).contains("second line"));
}

#[test]
fn scales_out_to_the_concurrency_limit_and_no_further() {
    let server = Server::start();
    deploy_probe(&server, "wide", json!({ "concurrency": 3, "timeout_s": 30 }));
    let burst = |n: usize| -> Vec<(u16, bool, Value)> {
        std::thread::scope(|s| {
            let calls: Vec<_> = (0..n)
                .map(|_| {
                    s.spawn(|| {
                        let (status, _, cold, body) = call(&server, "wide", json!({ "op": "sleep", "ms": 2500 }));
                        (status, cold, body)
                    })
                })
                .collect();
            calls.into_iter().map(|c| c.join().unwrap()).collect()
        })
    };
    let results = burst(5);
    let ok: Vec<_> = results.iter().filter(|r| r.0 == 200).collect();
    let throttled = results.iter().filter(|r| r.0 == 429).count();
    assert_eq!((ok.len(), throttled), (3, 2), "{results:?}");
    let containers: HashSet<_> = ok.iter().map(|r| r.2["container"].as_str().unwrap().to_string()).collect();
    assert_eq!(containers.len(), 3, "three calls at once ran in three containers");
    assert_eq!(server.containers(&[("skiff.function", "wide")]).len(), 3);

    // The next burst within the limit is served warm by the same three.
    let results = burst(3);
    assert!(results.iter().all(|r| r.0 == 200 && !r.1), "{results:?}");
    let again: HashSet<_> = results.iter().map(|r| r.2["container"].as_str().unwrap().to_string()).collect();
    assert_eq!(again, containers);
    assert_eq!(server.containers(&[("skiff.function", "wide")]).len(), 3);
}

/// Every container reserves its memory and pids limits from the host's budget: a start that
/// does not fit evicts idle containers of any function, least recently used first, and when
/// nothing idle is left it is a 429 naming the budget.
#[test]
fn container_starts_stay_within_the_host_budget() {
    let server = Server::start_with(&["--container-memory-budget-mb", "256"]);
    deploy_probe(&server, "first", json!({ "memory_mb": 128, "timeout_s": 30 }));
    deploy_probe(&server, "second", json!({ "memory_mb": 128, "timeout_s": 30 }));
    let results: Vec<(u16, Value)> = std::thread::scope(|s| {
        let calls: Vec<_> = (0..3).map(|_| s.spawn(|| call(&server, "first", json!({ "op": "sleep", "ms": 2500 })))).collect();
        calls.into_iter().map(|c| c.join().unwrap()).map(|(status, _, _, body)| (status, body)).collect()
    });
    let refused: Vec<_> = results.iter().filter(|r| r.0 == 429).collect();
    assert_eq!((results.len() - refused.len(), refused.len()), (2, 1), "two 128 MiB containers fill 256 MiB: {results:?}");
    assert_eq!(refused[0].1["Reason"], "HostMemoryLimitExceeded", "{results:?}");
    assert_eq!(server.containers(&[("skiff.function", "first")]).len(), 2);

    // Both of `first`'s containers are idle now: `second` gets room by evicting one of them.
    let (status, _, cold, body) = call(&server, "second", json!({ "op": "whoami" }));
    assert_eq!((status, cold), (200, true), "{body}");
    assert_eq!(server.containers(&[("skiff.function", "first")]).len(), 1, "one idle container was evicted");
    let (status, _, cold, _) = call(&server, "first", json!({ "op": "whoami" }));
    assert_eq!((status, cold), (200, false), "the container left to `first` still serves it warm");

    let metrics = server.get("/metrics").text().unwrap();
    let line = r#"skiff_throttles_total{function="first",scope="host_memory"} 1"#;
    assert!(metrics.contains(line), "{line} in\n{metrics}");
}

#[test]
fn timeout_oom_and_crash_replace_the_container() {
    let server = Server::start();
    deploy_probe(&server, "slow", json!({ "timeout_s": 1, "concurrency": 1 }));
    let whoami = |server: &Server, name: &str| call(server, name, json!({ "op": "whoami" })).3["container"].clone();
    let before = whoami(&server, "slow");
    let started = std::time::Instant::now();
    let (status, error, _, body) = call(&server, "slow", json!({ "op": "sleep", "ms": 5000 }));
    assert!(started.elapsed() < Duration::from_secs(4), "the call ended at its deadline");
    assert_eq!((status, error.as_deref()), (200, Some("Unhandled")));
    assert_eq!(body["errorType"], "Sandbox.Timedout");
    assert_eq!(body["errorMessage"], "Task timed out after 1.00 seconds");
    assert_ne!(whoami(&server, "slow"), before, "the timed-out container was replaced");
    assert!(eventually(Duration::from_secs(10), || server.containers(&[("skiff.function", "slow")]).len() == 1));

    // 128 MB gets 0.07 vCPU after init, so allocating takes a while: a generous timeout.
    deploy_probe(&server, "bad", json!({ "timeout_s": 30, "memory_mb": 128, "concurrency": 1 }));
    let after_timeout = whoami(&server, "bad");
    deploy_probe(&server, "bystander", json!({}));
    let bystander = whoami(&server, "bystander");
    let (_, error, _, body) = call(&server, "bad", json!({ "op": "alloc", "mb": 400 }));
    assert_eq!(error.as_deref(), Some("Unhandled"));
    assert_eq!(body["errorType"], "Runtime.OutOfMemory", "{body}");
    assert_eq!(whoami(&server, "bystander"), bystander, "another function's warm container is untouched");
    let whoami = |server: &Server| whoami(server, "bad");
    let after_oom = whoami(&server);
    assert_ne!(after_oom, after_timeout);

    let resp = server.invoke_with("bad", json!({ "op": "exit", "code": 7 }).to_string(), &[("X-Amz-Log-Type", "Tail")]);
    let (body, log) = tail_log(resp);
    assert_eq!(body["errorType"], "Runtime.ExitError", "{body}");
    assert!(body["errorMessage"].as_str().unwrap().contains("exit status 7"), "{body}");
    assert!(log.contains("probe: exiting with 7"), "output before the crash is kept: {log}");
    assert_ne!(whoami(&server), after_oom);

    // Nothing leaked: with concurrency 1, every call above got the one permit back, and only the
    // current container is left.
    assert!(eventually(Duration::from_secs(10), || server.containers(&[("skiff.function", "bad")]).len() == 1));
    let metrics = server.get("/metrics").text().unwrap();
    for (function, kind) in [("slow", "Sandbox.Timedout"), ("bad", "Runtime.OutOfMemory"), ("bad", "Runtime.ExitError")] {
        let line = format!("skiff_invocations_total{{function=\"{function}\",outcome=\"{kind}\"}} 1");
        assert!(metrics.contains(&line), "{line}");
    }
}

#[test]
fn init_failures_are_init_errors_and_leak_nothing() {
    let server = Server::start();
    deploy_probe(&server, "exits", json!({ "env": { "PROBE_INIT": "exit" }, "concurrency": 1 }));
    deploy_probe(&server, "reports", json!({ "env": { "PROBE_INIT": "error" }, "concurrency": 1 }));
    for _ in 0..2 {
        let resp = server.invoke_with("exits", "{}", &[("X-Amz-Log-Type", "Tail")]);
        assert_eq!(resp.status(), 200, "the permit came back after the last failure");
        let (body, log) = tail_log(resp);
        assert_eq!(body["errorType"], "Runtime.InitError", "{body}");
        assert!(body["errorMessage"].as_str().unwrap().contains("exit status 3"), "{body}");
        assert!(log.contains("probe: failing init by exiting"), "{log}");
    }
    let (_, error, _, body) = call(&server, "reports", json!({}));
    assert_eq!(error.as_deref(), Some("Unhandled"));
    assert_eq!(body["errorType"], "Runtime.HandlerNotFound", "the runtime's own init error document, as Lambda passes it: {body}");
    assert!(eventually(Duration::from_secs(10), || server.containers(&[]).is_empty()), "failed containers are removed");

    // An image whose command does not exist fails its init the same way.
    let (_, _, _, hung) = {
        deploy_probe(&server, "hangs", json!({ "env": { "PROBE_INIT": "hang" } }));
        let started = std::time::Instant::now();
        let r = call(&server, "hangs", json!({}));
        assert!(started.elapsed() < Duration::from_secs(30));
        r
    };
    assert_eq!(hung["errorType"], "Runtime.InitError");
    assert!(hung["errorMessage"].as_str().unwrap().contains("did not become ready"), "{hung}");
}

#[test]
fn a_container_whose_agent_cannot_serve_fails_its_init_at_once() {
    // A static binary that is not the agent: it exits at once without ever connecting, so only
    // the engine can tell that the container is gone.
    let not_agent = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("functions/fixtures/probe/bootstrap");
    let server = Server::start_with(&["--agent", not_agent.to_str().unwrap(), "--init-timeout", "60"]);
    deploy_probe(&server, "broken", json!({}));
    let started = std::time::Instant::now();
    let (_, error, _, body) = call(&server, "broken", json!({}));
    assert_eq!(error.as_deref(), Some("Unhandled"));
    assert_eq!(body["errorType"], "Runtime.InitError", "{body}");
    assert!(body["errorMessage"].as_str().unwrap().contains("exit status"), "{body}");
    assert!(started.elapsed() < Duration::from_secs(20), "not the 60 s init timeout");
    assert!(eventually(Duration::from_secs(10), || server.containers(&[]).is_empty()));
}

#[test]
fn idle_containers_are_reaped_and_provisioned_ones_kept() {
    // Long enough for `docker ps` on a loaded machine to see the container before it is reaped.
    let server = Server::start_with(&["--keep-warm", "3"]);
    deploy_probe(&server, "brief", json!({}));
    assert_eq!(call(&server, "brief", json!({})).0, 200);
    assert_eq!(server.containers(&[("skiff.function", "brief")]).len(), 1, "kept warm after its call");
    assert!(
        eventually(Duration::from_secs(10), || server.containers(&[("skiff.function", "brief")]).is_empty()),
        "the idle container is removed after the keep-warm period"
    );

    deploy_probe(&server, "ready", json!({ "provisioned": 2 }));
    assert!(
        eventually(Duration::from_secs(20), || server.get("/metrics").text().unwrap().contains("skiff_warm_containers{function=\"ready\"} 2")),
        "provisioned containers start without any call"
    );
    assert_eq!(server.containers(&[("skiff.function", "ready")]).len(), 2);
    let (status, _, cold, env) = call(&server, "ready", json!({ "op": "env" }));
    assert_eq!(status, 200);
    assert!(!cold, "a provisioned container serves the first call warm");
    assert_eq!(env["AWS_LAMBDA_INITIALIZATION_TYPE"], "provisioned-concurrency");
    // Past the 3 s keep-warm and the reaper's next round.
    std::thread::sleep(Duration::from_millis(4500));
    assert_eq!(server.containers(&[("skiff.function", "ready")]).len(), 2, "provisioned containers are not reaped");
}

#[test]
fn restart_cleans_up_what_a_crashed_server_left() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start_in(&data, &[]);
    deploy_probe(&server, "survivor", json!({ "provisioned": 1 }));
    assert_eq!(call(&server, "survivor", json!({})).0, 200);
    let owner = server.owner();
    let before = owned_containers(&owner, &[]);
    assert!(!before.is_empty());
    server.kill9();
    assert_eq!(owned_containers(&owner, &[]), before, "a crashed server cannot clean up");

    let server = Server::start_in(&data, &[]);
    let now = server.containers(&[]);
    assert!(now.iter().all(|id| !before.contains(id)), "containers of the crashed run were removed: {now:?}");
    assert!(eventually(Duration::from_secs(20), || server.containers(&[]).len() == 1), "the provisioned container is started again");
    let (status, _, _, body) = call(&server, "survivor", json!({ "op": "whoami" }));
    assert_eq!(status, 200, "{body}");

    // A graceful stop removes its containers.
    let owner = server.owner();
    assert!(server.stop().success());
    assert!(owned_containers(&owner, &[]).is_empty());
}

#[test]
fn updates_and_deletes_retire_containers() {
    let server = Server::start();
    deploy_probe(&server, "evolving", json!({ "env": { "MODE": "one" } }));
    assert_eq!(call(&server, "evolving", json!({ "op": "env" })).3["MODE"], "one");
    deploy_probe(&server, "evolving", json!({ "env": { "MODE": "two" } }));
    let (_, _, cold, env) = call(&server, "evolving", json!({ "op": "env" }));
    assert!(cold && env["MODE"] == "two", "the new version runs in a new container");
    assert!(eventually(Duration::from_secs(10), || server.containers(&[("skiff.function", "evolving"), ("skiff.version", "1")]).is_empty()));
    assert_eq!(server.http().delete(format!("{}/v1/functions/evolving", server.url)).send().unwrap().status(), 204);
    assert!(eventually(Duration::from_secs(10), || server.containers(&[]).is_empty()));
}

#[test]
fn the_sandbox_is_isolated() {
    let server = Server::start();
    deploy_probe(&server, "jail", json!({}));
    let port = server.url.rsplit(':').next().unwrap().to_string();
    for addr in [format!("127.0.0.1:{port}"), format!("[::1]:{port}")] {
        let (_, _, _, body) = call(&server, "jail", json!({ "op": "connect", "addr": addr }));
        assert_eq!(body["connected"], false, "the function reached the gateway: {body}");
    }
    let (_, _, _, body) = call(&server, "jail", json!({ "op": "write", "path": "/bootstrap-copy" }));
    assert_eq!(body["written"], false, "the root filesystem is read-only: {body}");
    let (_, _, _, body) = call(&server, "jail", json!({ "op": "write", "path": "/tmp/scratch" }));
    assert_eq!(body["written"], true, "/tmp is writable: {body}");
    let (_, _, _, body) = call(&server, "jail", json!({ "op": "files", "path": "/sys/class/net" }));
    let interfaces: Vec<_> = body["entries"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(interfaces, ["lo"], "no network interface but loopback");

    // Egress is opt-in: then (and only then) the container gets an interface on the bridge.
    deploy_probe(&server, "outbound", json!({ "egress": true }));
    let (_, _, _, body) = call(&server, "outbound", json!({ "op": "files", "path": "/sys/class/net" }));
    let mut interfaces: Vec<_> = body["entries"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    interfaces.sort();
    assert_eq!(interfaces, ["eth0", "lo"], "{body}");
    let (_, _, _, body) = call(&server, "outbound", json!({ "op": "connect", "addr": format!("127.0.0.1:{port}") }));
    assert_eq!(body["connected"], false, "the gateway listens on the host's loopback only: {body}");
    // Egress containers cannot reach each other: their network has inter-container traffic off,
    // so a connection to another one is dropped (it times out) rather than refused by its kernel.
    deploy_probe(&server, "neighbour", json!({ "egress": true }));
    call(&server, "neighbour", json!({ "op": "echo" }));
    let neighbour = &server.containers(&[("skiff.function", "neighbour")])[0];
    let out = std::process::Command::new("docker")
        .args(["inspect", "--format", "{{(index .NetworkSettings.Networks \"skiff-egress\").IPAddress}}", neighbour])
        .output()
        .unwrap();
    let ip = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(ip.parse::<std::net::Ipv4Addr>().is_ok(), "the neighbour is on skiff-egress: {ip:?} {}", String::from_utf8_lossy(&out.stderr));
    let (_, _, _, body) = call(&server, "outbound", json!({ "op": "connect", "addr": format!("{ip}:8080") }));
    assert_eq!(body["connected"], false, "{body}");
    assert!(!body["error"].as_str().unwrap_or_default().contains("refused"), "the neighbour's kernel answered: {body}");

    // Not root: Lambda's unprivileged uid, which also owns the runtime socket (0600) it uses.
    let id = &server.containers(&[("skiff.function", "jail")])[0];
    let inspect = |format: &str| {
        let out = std::process::Command::new("docker").args(["inspect", "--format", format, id]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(inspect("{{.Config.User}}"), "993:990");
    let pid = inspect("{{.State.Pid}}");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap().to_string();
    assert_eq!(uid_line.split_whitespace().nth(1), Some("993"), "{uid_line}");
    let socket = inspect(r#"{{range .Mounts}}{{if eq .Destination "/opt/skiff/runtime.sock"}}{{.Source}}{{end}}{{end}}"#);
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(&socket).unwrap();
    assert_eq!((meta.uid(), meta.mode() & 0o777), (993, 0o600), "{socket}");
    let out = std::process::Command::new("docker").args(["inspect", "--format", "{{json .HostConfig}}", id]).output().unwrap();
    let host: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(host["CapDrop"], json!(["ALL"]));
    assert_eq!(host["SecurityOpt"], json!(["no-new-privileges"]));
    assert_eq!(host["ReadonlyRootfs"], true);
    assert_eq!(host["NetworkMode"], "none");
    assert_eq!(host["Memory"], 128 << 20);
    assert_eq!(host["MemorySwap"], 128 << 20);
    assert!(host["PidsLimit"].as_i64().unwrap() > 0);
    // CPU in proportion to memory (128 MB of 1769 MB per vCPU), once the init boost is over.
    assert!(eventually(Duration::from_secs(5), || {
        let out = std::process::Command::new("docker").args(["inspect", "--format", "{{.HostConfig.NanoCpus}}", id]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim() == "72357263"
    }));
}

#[test]
fn bad_container_deploys_change_nothing() {
    let server = Server::start();
    let cases = [
        (json!({ "image": "skiff-tests/no-such-image:latest" }), "not in the local Docker engine"),
        (json!({ "image": "bad image name" }), "invalid image reference"),
        (json!({ "image": PROBE, "wasm_base64": "AGFzbQEAAAA=" }), "not both"),
        (json!({ "image": PROBE, "provisioned": 3, "concurrency": 2 }), "exceeds"),
    ];
    for (body, expected) in cases {
        let (status, resp) = json_body(server.deploy("nope", None, body.clone()));
        assert_eq!(status, 400, "{body} -> {resp}");
        assert!(resp["message"].as_str().unwrap().contains(expected), "{body} -> {resp}");
    }
    assert_eq!(server.get("/v1/functions/nope").status(), 404, "nothing was created");
    let resp = server.deploy("wasmy", Some(&common::fixture("echo")), json!({ "provisioned": 1 }));
    assert_eq!(resp.status(), 400);
}

#[test]
fn without_docker_container_deploys_are_refused_and_wasm_still_works() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let docker_host = format!("unix://{}/no-docker.sock", tmp.path().display());
    let server = Server::try_start_env(&data, &[], &[("DOCKER_HOST", &docker_host)]).unwrap();
    let (status, body) = json_body(server.deploy("boxed", None, json!({ "image": PROBE })));
    assert_eq!(status, 503, "a missing engine is a dependency down, not a server fault: {body}");
    assert!(body["message"].as_str().unwrap().contains("container functions are unavailable"), "{body}");
    assert_eq!(server.get("/v1/functions/boxed").status(), 404);
    server.deploy_fixture("plain", "echo", json!({}));
    assert_eq!(server.invoke("plain", "{}").status(), 200);
}

#[test]
fn the_official_python_runtime_client_runs_unmodified() {
    let server = Server::start();
    let resp = server.deploy("hello-python", None, json!({ "image": "skiff-examples/hello-python:latest", "memory_mb": 256, "env": { "GREETING": "Hi" } }));
    assert!(resp.status().is_success(), "{}", resp.text().unwrap());
    let resp = server.invoke_with("hello-python", r#"{"name":"Ada"}"#, &[("X-Amz-Log-Type", "Tail")]);
    assert!(resp.headers().contains_key("x-skiff-init-duration-ms"));
    let (body, log) = tail_log(resp);
    assert_eq!(body["message"], "Hi, Ada!");
    assert_eq!(body["function"], "hello-python");
    let remaining = body["remaining_ms"].as_i64().unwrap();
    assert!((1..=3000).contains(&remaining), "the deadline header reached the context: {remaining}");
    assert!(log.contains("greeting Ada from hello-python"), "{log}");

    // An exception is reported by awslambdaric through /invocation/{id}/error and passed through.
    let (status, error, cold, body) = call(&server, "hello-python", json!({ "fail": "no such order" }));
    assert_eq!((status, error.as_deref(), cold), (200, Some("Unhandled"), false));
    assert_eq!(body["errorType"], "ValueError", "{body}");
    assert_eq!(body["errorMessage"], "no such order", "{body}");
    assert!(body["stackTrace"].is_array(), "{body}");
}

#[test]
fn a_relative_data_dir_works() {
    // `skiff server` defaults to ./.skiff; bind mounts need absolute host paths.
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_relative(tmp.path(), ".skiff");
    deploy_probe(&server, "here", json!({}));
    let (status, error, _, body) = call(&server, "here", json!({ "op": "whoami" }));
    assert_eq!((status, error), (200, None), "{body}");
}

#[test]
fn cli_builds_and_deploys_the_rust_example_from_its_dockerfile() {
    let server = Server::start();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("functions/hello-rust");
    assert!(dir.join("bootstrap").exists(), "run scripts/build-functions.sh first");
    let out = server.cli(&["deploy", dir.to_str().unwrap(), "--env", "GREETING=Ahoy"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("building skiff-fn-hello-rust:latest"), "build progress is shown: {stderr}");
    let out = server.cli(&["invoke", "hello-rust", "--data", r#"{"name":"skiff"}"#]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let body: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(body["message"], "Ahoy, skiff!");
    assert_eq!(body["function"], "hello-rust");
    let got: Value = serde_json::from_slice(&server.cli(&["--json", "get", "hello-rust"]).stdout).unwrap();
    assert_eq!(got["code"]["type"], "image");
    assert_eq!(got["code"]["image"], "skiff-fn-hello-rust:latest");
    let table = String::from_utf8(server.cli(&["get", "hello-rust"]).stdout).unwrap();
    assert!(table.contains("skiff-fn-hello-rust:latest") && table.contains("sha256:"), "{table}");
    let listing = String::from_utf8(server.cli(&["ls"]).stdout).unwrap();
    assert!(listing.lines().any(|l| l.starts_with("hello-rust") && l.contains("image")), "{listing}");
}

/// The Runtime API socket hands out the function's events: only the container's own processes
/// may use it. A local process of the server's own user (root here) that connects is refused at
/// once, and no other user can even reach the socket.
#[test]
fn the_runtime_socket_serves_only_its_own_container() {
    use std::io::{Read, Write};
    use std::os::unix::fs::PermissionsExt;
    let server = Server::start();
    deploy_probe(&server, "guarded", json!({}));
    assert_eq!(call(&server, "guarded", json!({ "op": "echo", "n": 0 })).0, 200);
    let run_dir = server.data_dir.join("run");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&run_dir), 0o700, "the run directory is private to the server");
    let sockets: Vec<_> = std::fs::read_dir(&run_dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(sockets.len(), 1, "{sockets:?}");
    assert_eq!(mode(&sockets[0]), 0o600, "the socket is the server's alone");

    let mut intruder = std::os::unix::net::UnixStream::connect(&sockets[0]).unwrap();
    intruder.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = intruder.write_all(b"RGET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nhost: x\r\n\r\n");
    // Meanwhile the function is invoked: the intruder must not be the one who gets the event.
    let calls = std::thread::scope(|s| {
        let calls = s.spawn(|| (0..3).map(|n| call(&server, "guarded", json!({ "op": "echo", "n": n }))).collect::<Vec<_>>());
        let mut got = Vec::new();
        let read = intruder.read_to_end(&mut got);
        // Closed at once (a reset, since its request went unread); a timeout means it was served.
        let refused = got.is_empty() && read.as_ref().map_or_else(|e| e.kind() == std::io::ErrorKind::ConnectionReset, |_| true);
        assert!(refused, "the intruder was served: {read:?} {:?}", String::from_utf8_lossy(&got));
        calls.join().unwrap()
    });
    for (n, (status, error, _, body)) in calls.into_iter().enumerate() {
        assert_eq!((status, error), (200, None), "{body}");
        assert_eq!(body["echo"]["n"], n, "{body}");
    }
    assert!(server.stderr().contains("refused a runtime socket connection from outside the container"));
}
