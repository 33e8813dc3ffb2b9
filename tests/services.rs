//! Services against a real Docker engine, with the example `hello-service` image (built by
//! scripts/build-functions.sh): desired count, load balancing and streaming through
//! `/svc/NAME/`, self-healing, rolling updates and rollbacks under continuous load, scaling and
//! autoscaling, adoption after a restart, and bad input.

mod common;

use common::{eventually, json_body, owned_containers, Server};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const IMAGE: &str = "skiff-examples/hello-service:latest";

/// Quick health checks so the tests do not wait on the production defaults.
fn definition(count: u32, extra: Value) -> Value {
    let mut body = json!({
        "image": IMAGE,
        "port": 8080,
        "count": count,
        "memory_mb": 64,
        "cpu": 0.2,
        "health": { "path": "/healthz", "interval_ms": 200, "timeout_ms": 150, "healthy_threshold": 1,
                    "unhealthy_threshold": 2, "grace_period_ms": 1000 },
        "deployment": { "drain_timeout_ms": 5000 },
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

fn deploy(server: &Server, name: &str, body: Value) -> (u16, Value) {
    json_body(server.http().put(format!("{}/v1/services/{name}", server.url)).json(&body).send().unwrap())
}

fn get(server: &Server, name: &str) -> Value {
    let (status, body) = json_body(server.get(&format!("/v1/services/{name}")));
    assert_eq!(status, 200, "{body}");
    body
}

fn healthy(server: &Server, name: &str) -> Vec<Value> {
    let (_, body) = json_body(server.get(&format!("/v1/services/{name}/endpoints")));
    body["endpoints"].as_array().cloned().unwrap_or_default().into_iter().filter(|e| e["state"] == "healthy").collect()
}

/// Waits until exactly `n` copies are healthy, all of `revision`, and nothing else runs.
fn settled(server: &Server, name: &str, n: usize, revision: u64) -> bool {
    eventually(Duration::from_secs(30), || {
        let (_, body) = json_body(server.get(&format!("/v1/services/{name}/endpoints")));
        let all = body["endpoints"].as_array().cloned().unwrap_or_default();
        all.len() == n && all.iter().all(|e| e["state"] == "healthy" && e["revision"] == revision)
    })
}

fn call(server: &Server, name: &str, path: &str) -> (u16, Value) {
    json_body(server.http().get(format!("{}/svc/{name}{path}", server.url)).send().unwrap())
}

/// When the engine started containers of `owner` since `since` (Unix seconds), in nanoseconds.
fn starts_since(owner: &str, since: f64) -> Vec<u128> {
    let out = std::process::Command::new("docker")
        .args(["events", "--since", &format!("{since:.3}"), "--until", "0s", "--format", "{{.TimeNano}}"])
        .args(["--filter", &format!("label=skiff.owner={owner}"), "--filter", "event=start"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| l.trim().parse().ok()).collect()
}

fn unix_now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64()
}

fn copies(server: &Server, name: &str) -> Vec<String> {
    let mut ids = server.containers(&[("skiff.service", name)]);
    ids.sort();
    ids
}

/// Keep-alive clients hitting `/svc/NAME/PATH` until stopped; counts answers by status and remembers
/// the versions seen last.
struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicUsize>,
    failed: Arc<Mutex<Vec<String>>>,
    versions: Arc<Mutex<Vec<String>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(server: &Server, name: &str, path: &str, clients: usize) -> Self {
        let load = Load { stop: Arc::default(), ok: Arc::default(), failed: Arc::default(), versions: Arc::default(), threads: Vec::new() };
        let threads = (0..clients)
            .map(|_| {
                let (stop, ok, failed, versions) = (load.stop.clone(), load.ok.clone(), load.failed.clone(), load.versions.clone());
                let url = format!("{}/svc/{name}{path}", server.url);
                std::thread::spawn(move || {
                    let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
                    while !stop.load(Ordering::Relaxed) {
                        match http.get(&url).send() {
                            Ok(r) if r.status() == 200 => {
                                let body: Value = r.json().unwrap();
                                ok.fetch_add(1, Ordering::Relaxed);
                                let mut v = versions.lock().unwrap();
                                v.push(body["version"].as_str().unwrap_or_default().to_string());
                                if v.len() > 8 {
                                    v.remove(0);
                                }
                            }
                            Ok(r) => failed.lock().unwrap().push(format!("{} {}", r.status(), r.text().unwrap_or_default())),
                            Err(e) => failed.lock().unwrap().push(e.to_string()),
                        }
                    }
                })
            })
            .collect();
        Load { threads, ..load }
    }

    /// Stops the clients; returns (successes, failures, the last versions seen).
    fn finish(self) -> (usize, Vec<String>, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            t.join().unwrap();
        }
        let failed = self.failed.lock().unwrap().clone();
        let versions = self.versions.lock().unwrap().clone();
        (self.ok.load(Ordering::Relaxed), failed, versions)
    }
}

#[test]
fn the_desired_count_is_reached_and_requests_are_balanced_and_streamed() {
    let server = Server::start();
    let (status, body) = deploy(&server, "web", definition(3, json!({ "env": { "GREETING": "hi" }, "request_timeout_ms": 300 })));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["revision"], 1);
    assert!(settled(&server, "web", 3, 1), "3 healthy copies: {}", get(&server, "web"));
    assert_eq!(copies(&server, "web").len(), 3);

    let mut seen = HashSet::new();
    for _ in 0..30 {
        let (status, body) = call(&server, "web", "/");
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["message"], "hi");
        seen.insert(body["instance"].as_str().unwrap().to_string());
    }
    assert_eq!(seen.len(), 3, "round-robin among equally idle copies reaches all three: {seen:?}");

    // Service discovery: every copy with its address on the services network.
    for e in healthy(&server, "web") {
        let addr = e["address"].as_str().unwrap();
        let direct: Value = reqwest::blocking::get(format!("http://{addr}/")).unwrap().json().unwrap();
        assert!(e["id"].as_str().unwrap().starts_with(direct["instance"].as_str().unwrap()));
    }

    // Bodies stream both ways: a 5 MB upload of unknown length comes back byte for byte.
    let blob: Vec<u8> = (0..5_000_000u32).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8).collect();
    let body = reqwest::blocking::Body::new(std::io::Cursor::new(blob.clone()));
    let echoed = server.http().post(format!("{}/svc/web/echo", server.url)).body(body).send().unwrap();
    assert_eq!(echoed.status(), 200);
    assert!(echoed.bytes().unwrap() == blob, "echo came back intact");

    // The per-request timeout: a copy that does not answer in time gives 504.
    let (status, body) = call(&server, "web", "/sleep?ms=1000");
    assert_eq!(status, 504, "{body}");
    let (status, _) = call(&server, "web", "/sleep?ms=10");
    assert_eq!(status, 200);

    // The copies run locked down like functions, with the service's limits.
    let id = &copies(&server, "web")[0];
    let out = std::process::Command::new("docker")
        .args([
            "inspect",
            "-f",
            "{{.HostConfig.CapDrop}} {{.HostConfig.ReadonlyRootfs}} {{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.NetworkMode}}",
            id,
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[ALL] true 67108864 200000000 skiff-services");

    let out = server.cli(&["service", "ls"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("web") && text.contains("completed"), "{text}");
    let out = server.cli(&["service", "logs", "web", "--tail", "5"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.matches("listening on :8080").count(), 3, "each copy's output: {text}");
}

#[test]
fn a_killed_copy_is_replaced_and_so_is_one_that_fails_its_health_check() {
    let server = Server::start();
    assert_eq!(deploy(&server, "heal", definition(2, json!({}))).0, 200);
    assert!(settled(&server, "heal", 2, 1));
    let before = copies(&server, "heal");

    let victim = &before[0];
    assert!(std::process::Command::new("docker").args(["kill", victim]).output().unwrap().status.success());
    assert!(
        eventually(Duration::from_secs(20), || {
            let now = copies(&server, "heal");
            now.len() == 2 && !now.contains(victim) && healthy(&server, "heal").len() == 2
        }),
        "the killed copy is replaced: {}",
        get(&server, "heal")
    );

    // A copy that starts failing its health check is taken out and replaced.
    let (status, body) = json_body(server.http().post(format!("{}/svc/heal/unhealthy", server.url)).send().unwrap());
    assert_eq!(status, 200);
    let sick = body["instance"].as_str().unwrap().to_string();
    assert!(
        eventually(Duration::from_secs(20), || {
            let now = healthy(&server, "heal");
            now.len() == 2 && now.iter().all(|e| !e["id"].as_str().unwrap().starts_with(&sick))
        }),
        "the unhealthy copy is replaced: {}",
        get(&server, "heal")
    );
    assert!(eventually(Duration::from_secs(20), || copies(&server, "heal").len() == 2), "and stopped");
    for _ in 0..10 {
        let (status, body) = call(&server, "heal", "/");
        assert_eq!(status, 200);
        assert_ne!(body["instance"], sick.as_str(), "no traffic to the unhealthy copy");
    }
}

/// A scale-up starts copies a batch at a time, so a delete that comes meanwhile waits for one
/// batch, not for every copy to start: the starts stop there and the copies are gone when the
/// delete answers.
#[test]
fn a_delete_during_a_large_scale_up_stops_it_after_the_batch_in_progress() {
    let server = Arc::new(Server::start());
    let (status, body) = deploy(&server, "wide", definition(48, json!({ "memory_mb": 16, "cpu": 0.01 })));
    assert_eq!(status, 200, "{body}");
    assert!(eventually(Duration::from_secs(60), || !copies(&server, "wide").is_empty()), "no copy started");
    // The most containers the service ever had, watched until the delete is answered.
    let answered = Arc::new(AtomicBool::new(false));
    let most = {
        let (server, answered) = (server.clone(), answered.clone());
        std::thread::spawn(move || {
            let mut most = 0;
            while !answered.load(Ordering::SeqCst) {
                most = most.max(copies(&server, "wide").len());
                std::thread::sleep(Duration::from_millis(100));
            }
            most
        })
    };
    let asked = std::time::Instant::now();
    let resp = server.http().delete(format!("{}/v1/services/wide", server.url)).send().unwrap();
    let took = asked.elapsed();
    answered.store(true, Ordering::SeqCst);
    assert_eq!(resp.status(), 204);
    assert!(copies(&server, "wide").is_empty(), "copies outlived the delete");
    // The batch under way when the delete came, and at most the one before it.
    let most = most.join().unwrap();
    assert!(most <= 16, "{most} of 48 copies were started before the delete was answered ({took:?})");
}

#[test]
fn a_crash_looping_copy_is_restarted_with_backoff() {
    let server = Server::start();
    let since = unix_now();
    // The copy cannot bind its port and exits at once, every time.
    let (status, body) = deploy(&server, "crashy", definition(1, json!({ "env": { "PORT": "99999" } })));
    assert_eq!(status, 200, "{body}");
    // Restarted again and again (under load a start takes longer, so wait for them, not a time:
    // alone, six starts take 19 s; in a full test run they once took over 60 s).
    assert!(eventually(Duration::from_secs(150), || starts_since(&server.owner(), since).len() >= 6), "fewer than 6 starts in 150 s");
    let service = get(&server, "crashy");
    let starts = starts_since(&server.owner(), since);
    // Without backoff a 100 ms tick would restart it every tick; with it the waits grow (0.5 s,
    // 1 s, 2 s, 4 s, ...): the first four starts span at least 3.5 s.
    let span = Duration::from_nanos((starts[3] - starts[0]) as u64);
    assert!(span >= Duration::from_millis(3_200), "4 starts within {span:?}: {service}");
    // Each gap is its backoff plus a container start, which under a loaded test run has taken
    // from 0.3 s to over 3 s: the fifth gap (8 s of backoff) against the first (0.5 s) grows
    // past that noise.
    let gaps: Vec<Duration> = starts.windows(2).map(|w| Duration::from_nanos((w[1] - w[0]) as u64)).collect();
    assert!(gaps[4] >= gaps[0] + Duration::from_secs(4), "the wait between restarts grows: {gaps:?}");
    assert_eq!(service["rollout"]["state"], "failing", "{service}");
    assert!(service["last_error"].as_str().unwrap_or_default().contains("stopped"), "{service}");
    assert_eq!(call(&server, "crashy", "/").0, 503);
}

#[test]
fn a_version_whose_copies_cannot_start_is_rolled_back() {
    let server = Server::start();
    assert_eq!(deploy(&server, "nostart", definition(1, json!({}))).0, 200);
    assert!(settled(&server, "nostart", 1, 1));
    let (status, body) = deploy(&server, "nostart", definition(1, json!({ "entrypoint": ["/no/such/binary"] })));
    assert_eq!((status, body["revision"].clone()), (200, json!(2)), "{body}");
    assert!(eventually(Duration::from_secs(60), || get(&server, "nostart")["rollout"]["state"] == "rolled_back"), "{}", get(&server, "nostart"));
    let service = get(&server, "nostart");
    assert_eq!(service["revision"], 1);
    assert!(service["last_error"].as_str().unwrap_or_default().contains("starting a copy"), "{service}");
    assert_eq!(call(&server, "nostart", "/").0, 200);
}

#[test]
fn the_proxy_forwards_headers_but_never_the_servers_token() {
    let server = Server::start_with(&["--token", "s3cret"]);
    let auth = |r: reqwest::blocking::RequestBuilder| r.bearer_auth("s3cret");
    let put = auth(server.http().put(format!("{}/v1/services/hdr", server.url))).json(&definition(1, json!({})));
    assert_eq!(put.send().unwrap().status(), 200);
    assert!(eventually(Duration::from_secs(30), || {
        let r = auth(server.http().get(format!("{}/v1/services/hdr", server.url))).send().unwrap();
        r.json::<Value>().unwrap()["healthy_count"] == 1
    }));
    assert_eq!(server.http().get(format!("{}/svc/hdr/", server.url)).send().unwrap().status(), 401, "the token guards /svc too");
    let seen: Value = auth(server.http().get(format!("{}/svc/hdr/headers?x=1", server.url)))
        .header("x-custom", "kept")
        .header("connection", "keep-alive, x-hop")
        .header("x-hop", "dropped")
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(seen.get("authorization").is_none(), "the server's token reached the service: {seen}");
    assert_eq!(seen["x-custom"], "kept");
    assert!(seen.get("x-hop").is_none(), "headers named by Connection are hop-by-hop: {seen}");
    assert_eq!(seen["x-forwarded-for"], "127.0.0.1");
    assert_eq!(seen["x-forwarded-prefix"], "/svc/hdr");
    assert_eq!(seen["x-forwarded-proto"], "http");
}

#[test]
fn one_connection_carries_service_requests_then_any_other_route_in_order() {
    // On connection lanes (the default) and on the main runtime alone.
    pipelined_service_then_control_requests(&[]);
    pipelined_service_then_control_requests(&["--connection-threads", "0"]);
}

fn pipelined_service_then_control_requests(args: &[&str]) {
    use std::io::{Read as _, Write as _};
    let server = Server::start_with(args);
    assert_eq!(deploy(&server, "mix", definition(1, json!({}))).0, 200);
    assert!(settled(&server, "mix", 1, 1));
    let mut conn = std::net::TcpStream::connect(server.url.trim_start_matches("http://")).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // Pipelined on one connection: a service call, a chunked upload to a service (echoed back
    // chunked), a header of the proxy's own that must not leak, then a control request, which
    // the general server answers on the same connection after the service requests.
    conn.write_all(
        b"GET /svc/mix/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n\
          POST /svc/mix/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n5;x=1\r\nskiff\r\n7\r\n upload\r\n0\r\n\r\n\
          GET /svc/mix/headers HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: x-hop\r\nX-Hop: dropped\r\n\r\n\
          GET /v1/services/mix HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut all = String::new();
    conn.read_to_string(&mut all).unwrap();
    assert_eq!(all.matches("HTTP/1.1 200 OK\r\n").count(), 4, "four answers: {all}");
    let at = |needle: &str| all.find(needle).unwrap_or_else(|| panic!("{needle} missing: {all}"));
    let (greeting, echo, headers, control) = (at("\"message\""), at("skiff"), at("x-forwarded-prefix"), at("\"revision\""));
    assert!(greeting < echo && echo < headers && headers < control, "answers out of order: {all}");
    assert!(all[echo..headers].contains(" upload"), "the echo's second chunk: {all}");
    assert!(!all[headers..control].contains("dropped"), "a header named by Connection reached the copy: {all}");
}

#[test]
fn a_services_answer_streams_back_while_its_request_body_is_still_being_sent() {
    use std::io::{Read as _, Write as _};
    let server = Server::start();
    assert_eq!(deploy(&server, "duplex", definition(1, json!({}))).0, 200);
    assert!(settled(&server, "duplex", 1, 1));
    let mut conn = std::net::TcpStream::connect(server.url.trim_start_matches("http://")).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // The copy echoes each chunk as it arrives; the second chunk is sent only once the first
    // came back, so a proxy that waits for the whole body before reading the answer stalls.
    conn.write_all(b"POST /svc/duplex/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n").unwrap();
    let mut seen = Vec::new();
    let mut buf = [0; 4096];
    while !String::from_utf8_lossy(&seen).contains("first") {
        let n = conn.read(&mut buf).expect("the first chunk should come back before the body is through");
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    assert!(String::from_utf8_lossy(&seen).starts_with("HTTP/1.1 200 OK\r\n"), "{}", String::from_utf8_lossy(&seen));
    conn.write_all(b"6\r\nsecond\r\n0\r\n\r\n").unwrap();
    while !String::from_utf8_lossy(&seen).ends_with("0\r\n\r\n") {
        let n = conn.read(&mut buf).unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    let answer = String::from_utf8_lossy(&seen);
    assert!(answer.contains("second") && !answer.to_ascii_lowercase().contains("connection: close"), "{answer}");
    // The body was through by the answer's end: the connection carries the next request.
    conn.write_all(b"GET /svc/duplex/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").unwrap();
    let mut next = String::new();
    conn.read_to_string(&mut next).unwrap();
    assert!(next.starts_with("HTTP/1.1 200 OK\r\n") && next.contains("hello"), "{next}");
}

#[test]
fn connections_to_copies_are_reused_and_one_the_copy_closed_costs_no_request() {
    let server = Server::start();
    // The copy closes a keep-alive connection idle for 300 ms; the gateway keeps idle ones 4 s.
    assert_eq!(deploy(&server, "reuse", definition(1, json!({ "env": { "IDLE_TIMEOUT_MS": "300" } }))).0, 200);
    assert!(settled(&server, "reuse", 1, 1));
    let connection = || {
        let (status, body) = call(&server, "reuse", "/connection");
        assert_eq!(status, 200, "{body}");
        body["connection"].as_u64().unwrap()
    };
    let back_to_back: HashSet<u64> = (0..30).map(|_| connection()).collect();
    assert_eq!(back_to_back.len(), 1, "30 requests in a row should share one connection to the copy: {back_to_back:?}");

    // Each time, the pooled connection was closed by the copy while idle: the request must go
    // through on a new one, whatever its method and body.
    let mut seen = back_to_back;
    for round in 0..4 {
        std::thread::sleep(Duration::from_millis(600));
        if round % 2 == 0 {
            assert!(seen.insert(connection()), "a connection the copy closed was used again");
        } else {
            let body = format!("round {round} payload");
            let r = server.http().post(format!("{}/svc/reuse/echo", server.url)).body(body.clone()).send().unwrap();
            assert_eq!(r.status(), 200);
            assert_eq!(r.text().unwrap(), body);
        }
    }
}

#[test]
fn a_rolling_update_under_continuous_load_fails_no_request() {
    let server = Server::start();
    assert_eq!(deploy(&server, "roll", definition(2, json!({ "env": { "VERSION": "1" } }))).0, 200);
    assert!(settled(&server, "roll", 2, 1));
    let old = copies(&server, "roll");

    // Requests that take a while, so copies being replaced always have some in flight.
    let load = Load::start(&server, "roll", "/sleep?ms=300", 8);
    std::thread::sleep(Duration::from_millis(500));
    let out = server.cli(&[
        "service",
        "deploy",
        "--name",
        "roll",
        "--image",
        IMAGE,
        "--count",
        "2",
        "--memory",
        "64",
        "--cpu",
        "0.2",
        "--health-path",
        "/healthz",
        "--health-interval-ms",
        "200",
        "--health-timeout-ms",
        "150",
        "--healthy-threshold",
        "1",
        "--env",
        "VERSION=2",
        "--drain-timeout-ms",
        "5000",
        "--wait",
    ]);
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("revision 2"), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(settled(&server, "roll", 2, 2));
    std::thread::sleep(Duration::from_millis(1000));
    let (ok, failed, versions) = load.finish();
    assert!(failed.is_empty(), "{} of {} requests failed during the rollout: {:?}", failed.len(), ok + failed.len(), &failed[..failed.len().min(5)]);
    assert!(ok > 20, "the load ran throughout ({ok} requests)");
    assert!(versions.iter().all(|v| v == "2"), "traffic moved to the new version: {versions:?}");
    assert!(eventually(Duration::from_secs(20), || copies(&server, "roll").iter().all(|id| !old.contains(id))), "old copies stopped");
    assert_eq!(get(&server, "roll")["rollout"]["state"], "completed");
}

#[test]
fn a_version_that_never_becomes_healthy_is_rolled_back_without_dropping_requests() {
    let server = Server::start();
    assert_eq!(deploy(&server, "safe", definition(2, json!({ "env": { "VERSION": "1" } }))).0, 200);
    assert!(settled(&server, "safe", 2, 1));
    let good = copies(&server, "safe");

    let load = Load::start(&server, "safe", "/sleep?ms=30", 4);
    let bad = definition(2, json!({ "env": { "VERSION": "2", "HEALTHY": "false" } }));
    let (status, body) = deploy(&server, "safe", bad);
    assert_eq!((status, body["revision"].clone()), (200, json!(2)), "{body}");
    let rolled_back = eventually(Duration::from_secs(60), || get(&server, "safe")["rollout"]["state"] == "rolled_back");
    let (ok, failed, versions) = load.finish();
    let service = get(&server, "safe");
    assert!(rolled_back, "{service}");
    assert_eq!(service["revision"], 1, "revision 1 serves again");
    assert!(service["rollout"]["message"].as_str().unwrap().contains("rolled back to revision 1"), "{service}");
    assert!(failed.is_empty(), "{} of {} requests failed: {:?}", failed.len(), ok + failed.len(), &failed[..failed.len().min(5)]);
    assert!(versions.iter().all(|v| v == "1"));
    assert!(eventually(Duration::from_secs(20), || copies(&server, "safe") == good), "only the good copies remain");

    // A new deploy after a rollback gets a fresh revision number.
    let (_, body) = deploy(&server, "safe", definition(2, json!({ "env": { "VERSION": "3" } })));
    assert_eq!(body["revision"], 3);
    assert!(settled(&server, "safe", 2, 3));
}

#[test]
fn manual_scaling_and_target_tracking_autoscaling() {
    let server = Server::start();
    assert_eq!(deploy(&server, "elastic", definition(1, json!({}))).0, 200);
    assert!(settled(&server, "elastic", 1, 1));
    let scale = |n: u32| json_body(server.http().post(format!("{}/v1/services/elastic/scale", server.url)).json(&json!({ "count": n })).send().unwrap());
    assert_eq!(scale(3).0, 200);
    assert!(settled(&server, "elastic", 3, 1), "scaled up: {}", get(&server, "elastic"));
    let out = server.cli(&["service", "scale", "elastic", "1"]);
    assert!(out.status.success());
    assert!(settled(&server, "elastic", 1, 1), "scaled down");
    assert!(eventually(Duration::from_secs(20), || copies(&server, "elastic").len() == 1));
    // A deploy that changes only the count, with --wait, returns once the copies are healthy.
    let out = server.cli(&[
        "service",
        "deploy",
        "--name",
        "elastic",
        "--image",
        IMAGE,
        "--port",
        "8080",
        "--count",
        "2",
        "--memory",
        "64",
        "--cpu",
        "0.2",
        "--health-path",
        "/healthz",
        "--health-interval-ms",
        "200",
        "--health-timeout-ms",
        "150",
        "--healthy-threshold",
        "1",
        "--unhealthy-threshold",
        "2",
        "--health-grace-ms",
        "1000",
        "--drain-timeout-ms",
        "5000",
        "--wait",
    ]);
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(get(&server, "elastic")["revision"], 1, "the same definition: no new revision");
    assert_eq!(healthy(&server, "elastic").len(), 2, "--wait returned before the new copy was healthy");
    assert_eq!(scale(65).0, 400, "over the maximum");
    // Scaling to zero leaves nothing to answer: 503.
    assert_eq!(scale(0).0, 200);
    assert!(eventually(Duration::from_secs(20), || copies(&server, "elastic").is_empty()));
    let (status, body) = call(&server, "elastic", "/");
    assert_eq!(status, 503, "{body}");

    // Target tracking: 2 in flight per copy, between 1 and 3 copies.
    let auto = json!({ "autoscaling": { "min": 1, "max": 3, "target_in_flight": 2, "scale_out_cooldown_s": 1, "scale_in_cooldown_s": 2 } });
    let (status, body) = deploy(&server, "elastic", definition(1, auto));
    assert_eq!(status, 200, "{body}");
    assert!(settled(&server, "elastic", 1, 1));
    let busy = Arc::new(AtomicBool::new(true));
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let busy = busy.clone();
            let url = format!("{}/svc/elastic/sleep?ms=300", server.url);
            std::thread::spawn(move || {
                let http = reqwest::blocking::Client::new();
                while busy.load(Ordering::Relaxed) {
                    let _ = http.get(&url).send();
                }
            })
        })
        .collect();
    let scaled_out = eventually(Duration::from_secs(30), || healthy(&server, "elastic").len() == 3);
    busy.store(false, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    assert!(scaled_out, "8 in flight against a target of 2 per copy scales out to the maximum: {}", get(&server, "elastic"));
    assert_eq!(get(&server, "elastic")["desired_count"], 3);
    assert!(
        eventually(Duration::from_secs(30), || get(&server, "elastic")["desired_count"] == 1 && copies(&server, "elastic").len() == 1),
        "idle again, it scales back in to the minimum: {}",
        get(&server, "elastic")
    );
    let (status, _) = scale(5);
    assert_eq!(status, 400, "a manual count outside the autoscaling range is refused");
}

#[test]
fn a_restarted_server_adopts_running_copies_instead_of_duplicating_them() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start_in(&data, &[]);
    assert_eq!(deploy(&server, "keep", definition(2, json!({}))).0, 200);
    assert!(settled(&server, "keep", 2, 1));
    let before = copies(&server, "keep");
    let owner = server.owner();

    // A crash: the copies keep serving on their own.
    server.kill9();
    assert_eq!(owned_containers(&owner, &[("skiff.service", "keep")]).len(), 2);
    let restarted = unix_now();
    let server = Server::start_in(&data, &[]);
    assert!(settled(&server, "keep", 2, 1), "{}", get(&server, "keep"));
    assert_eq!(copies(&server, "keep"), before, "the same copies, adopted");
    std::thread::sleep(Duration::from_secs(1));
    assert!(starts_since(&owner, restarted).is_empty(), "nothing was started after the restart");
    assert_eq!(call(&server, "keep", "/").0, 200);
    // Each adopted copy is in rotation once, under one name: calls are counted on the copies
    // the API shows, and reuse one pooled connection per copy (not a new one per call).
    let served = |server: &Server| healthy(server, "keep").iter().map(|e| e["served"].as_u64().unwrap()).sum::<u64>();
    let served_before = served(&server);
    let connections: HashSet<u64> = (0..30)
        .map(|_| {
            let (status, body) = call(&server, "keep", "/connection");
            assert_eq!(status, 200, "{body}");
            body["connection"].as_u64().unwrap()
        })
        .collect();
    // (The counts reach the API at the reconciler's next tick.)
    let counted = eventually(Duration::from_secs(10), || served(&server) >= served_before + 30);
    assert!(counted, "every call went to a copy the API shows: {} of 30 counted", served(&server) - served_before);
    assert!(connections.len() <= 2, "30 calls to 2 adopted copies opened connections {connections:?}");

    // A graceful stop leaves them running too; the next server adopts them again.
    assert!(server.stop_leaving_containers().success());
    let mut left = owned_containers(&owner, &[("skiff.service", "keep")]);
    left.sort();
    assert_eq!(left, before, "a graceful stop leaves the copies running");
    let server = Server::start_in(&data, &[]);
    assert!(settled(&server, "keep", 2, 1));
    assert_eq!(copies(&server, "keep"), before);

    // Deleting the service stops its copies.
    let resp = server.http().delete(format!("{}/v1/services/keep", server.url)).send().unwrap();
    assert_eq!(resp.status(), 204);
    assert!(copies(&server, "keep").is_empty());
    assert_eq!(call(&server, "keep", "/").0, 404);
}

#[test]
fn bad_service_definitions_are_refused_and_change_nothing() {
    let server = Server::start();
    let cases = [
        ("bad name!", definition(1, json!({})), "invalid service name"),
        ("ok", definition(1, json!({ "port": 0 })), "port"),
        ("ok", definition(1, json!({ "image": "no-such-image:never" })), "not in the local Docker engine"),
        ("ok", definition(1, json!({ "colour": "red" })), "unknown field"),
        ("ok", definition(99, json!({})), "count"),
        ("ok", definition(1, json!({ "cpu": 64.0 })), "cpu"),
        ("ok", definition(1, json!({ "deployment": { "max_surge_percent": 0, "min_healthy_percent": 100 } })), "never progress"),
    ];
    for (name, body, expected) in cases {
        let (status, reply) = deploy(&server, &name.replace(' ', "%20").replace('!', "%21"), body);
        assert_eq!(status, 400, "{name}: {reply}");
        assert!(reply["message"].as_str().unwrap_or_default().contains(expected), "{name}: {reply}");
    }
    let (status, body) = json_body(server.get("/v1/services"));
    assert_eq!((status, body["services"].as_array().unwrap().len()), (200, 0));
    assert!(server.containers(&[("skiff.service", "ok")]).is_empty());
    assert_eq!(call(&server, "nope", "/").0, 404);
    let (status, _) = json_body(server.get("/v1/services/nope/endpoints"));
    assert_eq!(status, 404);
    let out = server.cli(&["service", "deploy", "--name", "x"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("image"), "{}", String::from_utf8_lossy(&out.stderr));
}
