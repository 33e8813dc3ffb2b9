//! Control plane, persistence, shutdown, metrics and security defaults, against the real server.

mod common;

use base64::Engine as _;
use common::{json_body, Server};
use serde_json::{json, Value};
use std::time::Duration;

fn list_names(server: &Server) -> Vec<String> {
    let (_, body) = json_body(server.get("/v1/functions"));
    body["functions"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap().to_string()).collect()
}

fn files_in(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

/// The compiled artifacts under `dir` (each has its sum file beside it).
fn artifacts_in(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries.map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "cwasm")).collect()
}

#[test]
fn bad_deploys_are_refused_with_the_reason_and_store_nothing() {
    let server = Server::start();
    let garbage = server.data_dir.join("garbage.wasm");
    std::fs::write(&garbage, b"\x00asm\x01\x00\x00\x00garbage").unwrap();
    let echo = common::fixture("echo");
    let no_start = common::fixture("no-start");
    // Compiles, but its table is larger than the instance pool allows.
    let huge_table = server.data_dir.join("huge-table.wat");
    std::fs::write(&huge_table, r#"(module (table 10000000 funcref) (memory (export "memory") 1) (func (export "_start")))"#).unwrap();
    // More functions than a deploy may ask the compiler for.
    let many = server.data_dir.join("many.wat");
    std::fs::write(&many, format!(r#"(module (memory (export "memory") 1) (func (export "_start")) {})"#, "(func)".repeat(50_000))).unwrap();
    let cases: Vec<(&str, Option<&std::path::Path>, Value, &str)> = vec![
        ("bad-wasm", Some(&garbage), json!({}), "invalid wasm"),
        ("no-start", Some(&no_start), json!({}), "_start"),
        ("huge-table", Some(&huge_table), json!({}), "10000000 elements"),
        ("many-functions", Some(&many), json!({}), "more than 50000 functions"),
        ("bad.name", Some(&echo), json!({}), "[A-Za-z0-9_-]{1,64}"),
        ("low-mem", Some(&echo), json!({ "memory_mb": 64 }), "between 128 and 10240"),
        ("long", Some(&echo), json!({ "timeout_s": 901 }), "between 1 and 900"),
        ("too-many", Some(&echo), json!({ "concurrency": 10_001 }), "too high"),
        ("reserved-env", Some(&echo), json!({ "env": { "AWS_LAMBDA_FUNCTION_NAME": "x" } }), "reserved"),
        ("no-code", None, json!({}), "code is required"),
        ("typo", Some(&echo), json!({ "memroy_mb": 256 }), "unknown field"),
        ("listed", Some(&echo), json!({ "reuse": [5, 60] }), "invalid type: sequence, expected struct Reuse"),
    ];
    for (name, code, settings, reason) in cases {
        let (status, body) = json_body(server.deploy(name, code, settings));
        assert_eq!(status, 400, "{name}: {body}");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(reason), "{name}: {message:?} lacks {reason:?}");
    }
    let (status, _) = json_body(server.deploy(&"x".repeat(65), Some(&echo), json!({})));
    assert_eq!(status, 400);
    assert!(list_names(&server).is_empty());
    assert_eq!(files_in(&server.data_dir.join("code")), 0, "no code blob may be stored");
    assert_eq!(files_in(&server.data_dir.join("compiled")), 0, "no compiled artifact may be left");

    // A bad update leaves the existing version serving, unchanged.
    server.deploy_fixture("echo", "echo", json!({ "memory_mb": 256 }));
    let (status, _) = json_body(server.deploy("echo", Some(&garbage), json!({ "memory_mb": 512 })));
    assert_eq!(status, 400);
    let (_, config) = json_body(server.get("/v1/functions/echo"));
    assert_eq!((config["version"].as_u64(), config["memory_mb"].as_u64()), (Some(1), Some(256)));
    assert_eq!(server.invoke("echo", "7").text().unwrap(), "7");
}

#[test]
fn deployments_survive_a_restart_without_recompiling() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start_in(&data, &[]);
    server.deploy_fixture("echo", "echo", json!({ "env": { "MODE": "test" }, "concurrency": 3 }));
    server.deploy_fixture("trap", "trap", json!({}));
    assert!(server.stop().success());
    let compiled = artifacts_in(&data.join("compiled"));
    assert_eq!(compiled.len(), 2);
    let mtimes: Vec<_> = compiled.iter().map(|p| std::fs::metadata(p).unwrap().modified().unwrap()).collect();

    let server = Server::start_in(&data, &[]);
    assert_eq!(list_names(&server), ["echo", "trap"]);
    let (_, config) = json_body(server.get("/v1/functions/echo"));
    assert_eq!(config["env"], json!({ "MODE": "test" }));
    assert_eq!(config["concurrency"], 3);
    let first = server.invoke("echo", r#""after restart""#);
    assert!(first.headers().contains_key("x-skiff-init-duration-ms"), "first call after restart is cold");
    assert_eq!(first.text().unwrap(), r#""after restart""#);
    assert!(!server.stderr().contains("not cached; compiling"), "{}", server.stderr());
    let after: Vec<_> = compiled.iter().map(|p| std::fs::metadata(p).unwrap().modified().unwrap()).collect();
    assert_eq!(mtimes, after, "cached artifacts were rewritten");
}

#[test]
fn a_lost_artifact_cache_is_rebuilt_from_the_stored_code() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start_in(&data, &[]);
    server.deploy_fixture("echo", "echo", json!({}));
    server.stop();
    std::fs::remove_dir_all(data.join("compiled")).unwrap();
    let server = Server::start_in(&data, &[]);
    assert_eq!(server.invoke("echo", "1").text().unwrap(), "1");
    assert!(server.stderr().contains("not cached; compiling"));
}

#[test]
fn an_update_is_atomic_and_calls_in_flight_finish_on_the_old_code() {
    let server = Server::start();
    server.deploy_fixture("swap", "slow", json!({}));
    std::thread::scope(|s| {
        let in_flight = s.spawn(|| server.invoke("swap", "{}").text().unwrap());
        std::thread::sleep(Duration::from_millis(150));
        let config = server.deploy_fixture("swap", "echo", json!({ "memory_mb": 256 }));
        assert_eq!(config["version"], 2);
        assert_eq!(server.invoke("swap", r#""new""#).text().unwrap(), r#""new""#);
        assert_eq!(in_flight.join().unwrap(), r#""slow""#, "in-flight call ran on the old code");
    });
    // Only the current code is kept.
    assert_eq!(files_in(&server.data_dir.join("code")), 1);
}

#[test]
fn reserved_concurrency_spans_versions() {
    let server = Server::start();
    // The first version's call blocks until its 3 s timeout: the deploy of the second (a compile
    // in a child process, slow while other tests load the machine) happens well inside it.
    server.deploy_fixture("one", "sleep", json!({ "concurrency": 1, "timeout_s": 3 }));
    std::thread::scope(|s| {
        let in_flight = s.spawn(|| json_body(server.invoke("one", "{}")));
        std::thread::sleep(Duration::from_millis(150));
        server.deploy_fixture("one", "echo", json!({}));
        assert_eq!(server.invoke("one", "{}").status(), 429, "the old version's call still holds the one slot");
        let (status, timed_out) = in_flight.join().unwrap();
        assert_eq!((status, timed_out["errorType"].as_str()), (200, Some("Sandbox.Timedout")), "{timed_out}");
    });
    assert_eq!(server.invoke("one", r#""free""#).text().unwrap(), r#""free""#);
    // Changing the limit starts a new count.
    server.deploy_fixture("one", "slow", json!({ "concurrency": 2 }));
    std::thread::scope(|s| {
        let calls: Vec<_> = (0..2).map(|_| s.spawn(|| server.invoke("one", "{}").status().as_u16())).collect();
        assert!(calls.into_iter().all(|c| c.join().unwrap() == 200));
    });
}

#[test]
fn delete_removes_the_function_and_its_code() {
    let server = Server::start();
    server.deploy_fixture("echo", "echo", json!({}));
    server.deploy_fixture("echo2", "echo", json!({}));
    assert_eq!(files_in(&server.data_dir.join("code")), 1, "same code is stored once");
    let del = server.http().delete(format!("{}/v1/functions/echo", server.url)).send().unwrap();
    assert_eq!(del.status(), 204);
    assert_eq!(files_in(&server.data_dir.join("code")), 1, "still used by echo2");
    assert_eq!(server.invoke("echo", "{}").status(), 404);
    assert_eq!(artifacts_in(&server.data_dir.join("compiled")).len(), 1);
    server.http().delete(format!("{}/v1/functions/echo2", server.url)).send().unwrap();
    assert_eq!(files_in(&server.data_dir.join("code")), 0);
    assert_eq!(files_in(&server.data_dir.join("compiled")), 0, "artifacts go with their code");
    let again = server.http().delete(format!("{}/v1/functions/echo2", server.url)).send().unwrap();
    assert_eq!(again.status(), 404);
}

#[test]
fn shutdown_drains_calls_in_flight() {
    let server = Server::start();
    server.deploy_fixture("slow", "slow", json!({}));
    let url = server.url.clone();
    let call = std::thread::spawn(move || {
        reqwest::blocking::Client::new()
            .post(format!("{url}/2015-03-31/functions/slow/invocations"))
            .body("{}")
            .send()
            .map(|r| (r.status().as_u16(), r.text().unwrap_or_default()))
    });
    std::thread::sleep(Duration::from_millis(150));
    let status = server.stop();
    assert!(status.success(), "server exit: {status:?}");
    assert_eq!(call.join().unwrap().unwrap(), (200, r#""slow""#.to_string()));
}

#[test]
fn metrics_pass_promtool_and_count_invocations() {
    let server = Server::start();
    server.deploy_fixture("echo", "echo", json!({}));
    server.deploy_fixture("trap", "trap", json!({}));
    server.invoke("echo", "{}");
    server.invoke("echo", "{}");
    server.invoke("trap", "{}");
    let text = server.get("/metrics").text().unwrap();
    for expected in [
        r#"skiff_invocations_total{function="echo",outcome="success"} 2"#,
        r#"skiff_invocations_total{function="trap",outcome="Runtime.Unhandled"} 1"#,
        r#"skiff_cold_starts_total{function="echo"} 1"#,
        r#"skiff_invocation_duration_seconds_count{function="echo"} 2"#,
        "skiff_functions_deployed 2",
        "skiff_executions_in_progress 0",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    let metrics_file = server.data_dir.join("metrics.txt");
    std::fs::write(&metrics_file, &text).unwrap();
    let output = std::process::Command::new("sh").arg("-c").arg(format!("promtool check metrics < '{}'", metrics_file.display())).output().unwrap();
    assert!(
        output.status.success(),
        "promtool (installed by scripts/install-deps.sh) rejected the metrics: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn non_loopback_listen_needs_a_token_and_the_token_is_enforced() {
    let tmp = tempfile::tempdir().unwrap();
    let refused = std::process::Command::new(common::BIN)
        .args(["server", "--listen", "0.0.0.0:0", "--data-dir"])
        .arg(tmp.path())
        .env_remove("SKIFF_TOKEN")
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("without an auth token"));

    let server = Server::start_with(&["--token", "s3cret"]);
    assert_eq!(server.get("/healthz").status(), 200);
    let (status, body) = json_body(server.get("/v1/functions"));
    assert_eq!((status, body["__type"].as_str()), (401, Some("UnrecognizedClientException")));
    let authed = server.http().get(format!("{}/v1/functions", server.url)).bearer_auth("s3cret").send().unwrap();
    assert_eq!(authed.status(), 200);
    let cli = std::process::Command::new(common::BIN).args(["ls", "--url", &server.url, "--token", "s3cret"]).output().unwrap();
    assert!(cli.status.success(), "{}", String::from_utf8_lossy(&cli.stderr));

    // Function URLs need the token too, and the function's code never sees it.
    let wasm = std::fs::read(common::fixture("echo")).unwrap();
    let deploy = json!({ "wasm_base64": base64::engine::general_purpose::STANDARD.encode(wasm) });
    let put = server.http().put(format!("{}/v1/functions/echo", server.url)).bearer_auth("s3cret").json(&deploy);
    assert!(put.send().unwrap().status().is_success());
    assert_eq!(server.http().get(format!("{}/fn/echo/x", server.url)).send().unwrap().status(), 401);
    let event: Value = server.http().get(format!("{}/fn/echo/x", server.url)).bearer_auth("s3cret").header("x-custom", "kept").send().unwrap().json().unwrap();
    assert_eq!(event["headers"]["x-custom"], "kept");
    assert!(event["headers"].get("authorization").is_none(), "the server's token reached the function: {event}");
}

/// The data dir holds users' env values, results and keys: nothing in it is readable by other
/// local users, even when it existed before (0755) and the server was started with umask 022.
#[test]
fn nothing_in_the_data_dir_is_readable_by_other_users() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let server = Server::start_in(&data, &[]);
    server.deploy_fixture("secretive", "echo", json!({ "env": { "API_KEY": "hunter2" } }));
    let resp = server.invoke_with("secretive", "{}", &[("x-amz-invocation-type", "Event")]);
    assert_eq!(resp.status(), 202);
    assert_eq!(server.invoke("secretive", "{}").status(), 200);
    let mut open = Vec::new();
    let mut walk = vec![data.clone()];
    while let Some(dir) = walk.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.permissions().mode() & 0o077 != 0 {
                open.push(format!("{} {:o}", path.display(), meta.permissions().mode() & 0o777));
            }
            if meta.is_dir() {
                walk.push(path);
            }
        }
    }
    assert_eq!(std::fs::metadata(&data).unwrap().permissions().mode() & 0o777, 0o700);
    assert!(open.is_empty(), "readable by others: {open:?}");
}

/// Without a token, a web page in a browser on this machine must not drive the server: a
/// rebound DNS name (a foreign Host) is not served, and a cross-site "simple request" (a
/// foreign Origin, a text/plain body) changes nothing.
#[test]
fn an_open_server_refuses_foreign_hosts_and_cross_site_requests() {
    let server = Server::start();
    server.deploy_fixture("target", "echo", json!({}));
    let get = |host: &str| server.http().get(format!("{}/v1/functions", server.url)).header("host", host).send().unwrap().status().as_u16();
    assert_eq!(get("evil.example"), 403);
    assert_eq!(get("evil.example:80"), 403);
    assert_eq!(get("localhost"), 200);
    let trigger = json!({ "function": "target", "queue": "jobs" }).to_string();
    let post = |headers: &[(&str, &str)]| {
        let mut req = server.http().post(format!("{}/v1/triggers", server.url)).body(trigger.clone());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        json_body(req.send().unwrap())
    };
    let (code, body) = post(&[("content-type", "text/plain"), ("origin", "http://evil.example")]);
    assert_eq!(code, 403, "{body}");
    let (code, body) = post(&[("content-type", "text/plain")]);
    assert_eq!((code, body["__type"].as_str()), (415, Some("UnsupportedMediaTypeException")), "{body}");
    let (code, body) = post(&[("content-type", "application/x-www-form-urlencoded")]);
    assert_eq!(code, 415, "{body}");
    let invoke = server.invoke_with("target", "{}", &[("origin", "http://evil.example")]);
    assert_eq!(invoke.status(), 403, "a cross-site page cannot call functions either");
    let (_, listed) = json_body(server.get("/v1/triggers"));
    assert_eq!(listed["triggers"], json!([]), "nothing was created: {listed}");
    // The server's own origin, and JSON, are fine.
    let own = format!("http://{}", server.url.trim_start_matches("http://"));
    let (code, body) = post(&[("content-type", "application/json"), ("origin", &own)]);
    assert!(code != 403 && code != 415, "{code} {body}");
}

/// A client cannot hold the server with connections that say nothing: a silent connection and
/// one that trickles its headers are closed at the header timeout, an idle keep-alive one at
/// the idle timeout, and at the connection cap later clients wait rather than exhaust the server.
#[test]
fn silent_trickling_and_idle_connections_are_closed_and_capped() {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::Instant;
    let server = Server::start_with(&["--header-read-timeout", "1", "--idle-timeout", "2", "--max-connections", "8"]);
    let addr = server.url.trim_start_matches("http://").to_string();
    let closed_after = |mut stream: TcpStream| {
        let started = Instant::now();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut rest = Vec::new();
        let read = stream.read_to_end(&mut rest);
        assert!(read.is_ok() || read.as_ref().unwrap_err().kind() == std::io::ErrorKind::ConnectionReset, "{read:?}");
        started.elapsed()
    };
    let silent = TcpStream::connect(&addr).unwrap();
    let waited = closed_after(silent);
    assert!(waited < Duration::from_secs(3), "silent connection kept {waited:?}");
    let mut trickle = TcpStream::connect(&addr).unwrap();
    trickle.write_all(b"GET /healthz HTTP/1.1\r\nHo").unwrap();
    let waited = closed_after(trickle);
    assert!(waited < Duration::from_secs(3), "trickling connection kept {waited:?}");
    let mut idle = TcpStream::connect(&addr).unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut answer = [0u8; 17];
    idle.read_exact(&mut answer).unwrap();
    assert_eq!(&answer, b"HTTP/1.1 200 OK\r\n");
    let waited = closed_after(idle);
    assert!(waited > Duration::from_millis(1500) && waited < Duration::from_secs(5), "idle connection kept {waited:?}");

    // Eight silent connections take every slot: a ninth client is served only once the header
    // timeout has freed them.
    let held: Vec<TcpStream> = (0..8).map(|_| TcpStream::connect(&addr).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    let resp = reqwest::blocking::Client::new().get(format!("{}/healthz", server.url)).timeout(Duration::from_secs(10)).send().unwrap();
    assert_eq!(resp.status(), 200);
    assert!(started.elapsed() > Duration::from_millis(500), "served past the cap after {:?}", started.elapsed());
    drop(held);
    assert!(server.get("/v1/functions").status().is_success(), "still serving");
}

/// Deploys compile in a child process under CPU-time and memory limits: code that needs more is
/// refused with a 400 naming the limit, nothing is stored, and the server serves on.
#[test]
fn compiles_past_their_cpu_or_memory_limit_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let large = tmp.path().join("large.wat");
    std::fs::write(
        &large,
        format!(r#"(module (memory (export "memory") 1) (func (export "_start")) {})"#, "(func (drop (i32.add (i32.const 1) (i32.const 2))))".repeat(40_000)),
    )
    .unwrap();
    for (flag, limit, says) in [("--compile-cpu-limit-s", "1", "1 s of CPU time"), ("--compile-memory-limit-mb", "64", "64 MiB of memory")] {
        let server = Server::start_with(&[flag, limit]);
        let (status, body) = json_body(server.deploy("large", Some(&large), json!({})));
        assert_eq!(status, 400, "{flag} {limit}: {body}");
        assert!(body["message"].as_str().unwrap().contains(says), "{body}");
        assert_eq!(server.get("/v1/functions/large").status(), 404, "a refused deploy stores nothing");
        let artifacts = std::fs::read_dir(server.data_dir.join("compiled")).map(|d| d.count()).unwrap_or(0);
        assert_eq!(artifacts, 0, "no artifact of refused code is kept");
        server.deploy_fixture("small", "echo", json!({}));
        assert_eq!(server.invoke("small", "1").text().unwrap(), "1", "{flag}: small code compiles within the limit");
    }
}

/// Compiling happens outside the control lock: a small deploy is not held up by a large module
/// compiling at the same time.
#[test]
fn a_slow_compile_does_not_hold_other_deploys() {
    let server = Server::start();
    let large = server.data_dir.join("large.wat");
    std::fs::write(
        &large,
        format!(r#"(module (memory (export "memory") 1) (func (export "_start")) {})"#, "(func (drop (i32.add (i32.const 1) (i32.const 2))))".repeat(40_000)),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let (large_done, small_done) = std::thread::scope(|s| {
        let large_deploy = s.spawn(|| {
            let (status, body) = json_body(server.deploy("large", Some(&large), json!({})));
            assert!(status < 300, "{body}");
            started.elapsed()
        });
        std::thread::sleep(Duration::from_millis(300));
        server.deploy_fixture("small", "echo", json!({}));
        let small = started.elapsed();
        (large_deploy.join().unwrap(), small)
    });
    assert!(small_done < large_done, "the small deploy waited for the large compile: {small_done:?} vs {large_done:?}");
    assert_eq!(server.invoke("small", "1").text().unwrap(), "1");
}
