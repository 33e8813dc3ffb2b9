//! Invocation semantics through the Lambda Invoke API, against the real server.

mod common;

use base64::Engine as _;
use common::{json_body, Server};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[test]
fn echo_returns_the_event_with_lambda_headers_and_a_cold_start_only_first() {
    let server = Server::start();
    server.deploy_fixture("echo", "echo", json!({}));
    let first = server.invoke("echo", r#"{"hello":"world"}"#);
    assert_eq!(first.status(), 200);
    let h = first.headers().clone();
    assert_eq!(h["x-amz-executed-version"], "$LATEST");
    assert!(h.contains_key("x-amzn-requestid"));
    assert!(!h.contains_key("x-amz-function-error"));
    assert!(h.contains_key("x-skiff-init-duration-ms"), "first call is a cold start");
    assert_eq!(first.text().unwrap(), r#"{"hello":"world"}"#);

    let second = server.invoke("echo", "[1,2,3]");
    assert!(!second.headers().contains_key("x-skiff-init-duration-ms"), "second call is warm");
    assert_eq!(second.text().unwrap(), "[1,2,3]");
}

#[test]
fn a_spinning_function_is_stopped_at_its_timeout_and_the_server_stays_healthy() {
    let server = Server::start();
    server.deploy_fixture("spin", "spin", json!({ "timeout_s": 1 }));
    // Blocked in a host call rather than in guest code: the wall-clock backstop must stop it.
    server.deploy_fixture("sleep", "sleep", json!({ "timeout_s": 1 }));
    server.deploy_fixture("echo", "echo", json!({}));
    for name in ["spin", "sleep"] {
        let started = Instant::now();
        let resp = server.invoke(name, "{}");
        let elapsed = started.elapsed();
        assert_eq!(resp.headers()["x-amz-function-error"], "Unhandled");
        let (status, body) = json_body(resp);
        assert_eq!(status, 200);
        assert_eq!(body["errorType"], "Sandbox.Timedout");
        assert_eq!(body["errorMessage"], "Task timed out after 1.00 seconds");
        assert!(elapsed >= Duration::from_secs(1), "{name} stopped early: {elapsed:?}");
        assert!(elapsed < Duration::from_millis(1500), "{name} stopped late: {elapsed:?}");
    }
    assert_eq!(server.get("/healthz").status(), 200);
    assert_eq!(server.invoke("echo", "1").text().unwrap(), "1");
}

#[test]
fn spinning_guests_share_the_workers_instead_of_holding_them() {
    // Guests run on the server's async workers (as many as cores) and must yield at every epoch
    // tick: with more spinning guests than workers, other calls are still answered at once
    // rather than after the spinners' timeout.
    let server = Server::start();
    server.deploy_fixture("spin", "spin", json!({ "timeout_s": 3 }));
    server.deploy_fixture("echo", "echo", json!({}));
    let spinners: Vec<_> = (0..6)
        .map(|_| {
            let url = format!("{}/2015-03-31/functions/spin/invocations", server.url);
            std::thread::spawn(move || reqwest::blocking::Client::new().post(url).body("{}").send().map(|r| r.status()))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    for i in 0..5 {
        let started = Instant::now();
        assert_eq!(server.invoke("echo", i.to_string()).text().unwrap(), i.to_string());
        let elapsed = started.elapsed();
        assert!(elapsed < Duration::from_millis(1500), "echo waited {elapsed:?} behind spinning guests");
    }
    for s in spinners {
        assert_eq!(s.join().unwrap().unwrap(), 200, "a spinner is stopped with a timeout error");
    }
}

#[test]
fn memory_grows_under_the_limit_and_fails_as_out_of_memory_over_it() {
    let server = Server::start();
    server.deploy_fixture("grow", "grow", json!({ "memory_mb": 128 }));
    let ok = server.invoke("grow", "64");
    assert!(!ok.headers().contains_key("x-amz-function-error"));
    assert_eq!(ok.text().unwrap(), r#"{"grown":true}"#);

    let over = server.invoke_with("grow", "200", &[("X-Amz-Log-Type", "Tail")]);
    assert_eq!(over.headers()["x-amz-function-error"], "Unhandled");
    let (_, body) = json_body(over);
    assert_eq!(body["errorType"], "Runtime.OutOfMemory");
    assert!(body["errorMessage"].as_str().unwrap().contains("128 MB"), "{body}");

    // The cap follows the configuration: the same request fits in 256 MB.
    server.deploy("grow", None, json!({ "memory_mb": 256 }));
    let fits = server.invoke("grow", "200");
    assert!(!fits.headers().contains_key("x-amz-function-error"));
    assert_eq!(server.get("/healthz").status(), 200);
}

#[test]
fn a_trap_reports_its_stderr_in_the_error_and_the_tail_log() {
    let server = Server::start();
    server.deploy_fixture("trap", "trap", json!({}));
    server.deploy_fixture("exit", "exit", json!({}));
    let resp = server.invoke_with("trap", "{}", &[("X-Amz-Log-Type", "Tail")]);
    assert_eq!(resp.headers()["x-amz-function-error"], "Unhandled");
    let log = resp.headers()["x-amz-log-result"].to_str().unwrap().to_string();
    let log = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(log).unwrap()).unwrap();
    let (_, body) = json_body(resp);
    assert_eq!(body["errorType"], "Runtime.Unhandled");
    let message = body["errorMessage"].as_str().unwrap();
    assert!(message.contains("unreachable"), "{message}");
    assert!(message.contains("panic: the widget is broken"), "{message}");
    assert!(log.contains("panic: the widget is broken"), "{log}");
    assert!(log.starts_with("START RequestId: ") && log.contains("REPORT RequestId: "), "{log}");

    let (_, body) = json_body(server.invoke("exit", "{}"));
    assert_eq!(body["errorType"], "Runtime.Unhandled");
    assert!(body["errorMessage"].as_str().unwrap().starts_with("exit status 3; stderr: fatal: bad input"));
}

#[test]
fn a_followed_log_streams_each_call_as_it_finishes_and_a_wrong_flag_is_refused() {
    let server = Server::start();
    server.deploy_fixture("echo", "echo", json!({}));
    assert_eq!(server.invoke("echo", r#"{"before":true}"#).status(), 200);
    let stream = server.get("/v1/functions/echo/logs?limit=1&follow=true");
    assert_eq!(stream.headers()["content-type"], "application/x-ndjson");
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stream));
    let backlog: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert!(backlog["text"].as_str().unwrap().contains("START RequestId"), "the earlier call comes first: {backlog}");
    for i in 0..2 {
        let resp = server.invoke("echo", format!("{{\"followed\":{i}}}"));
        let request_id = resp.headers()["x-amzn-requestid"].to_str().unwrap().to_string();
        let line: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
        assert_eq!(line["request_id"], request_id.as_str(), "{line}");
    }
    // `false`/`0` is the plain list; a value that is neither is refused, not read as "no".
    let (status, listed) = json_body(server.get("/v1/functions/echo/logs?follow=false&limit=10"));
    assert_eq!((status, listed["entries"].as_array().map(Vec::len)), (200, Some(3)), "{listed}");
    for wrong in ["null", "yes", ""] {
        let (status, refused) = json_body(server.get(&format!("/v1/functions/echo/logs?follow={wrong}")));
        assert_eq!(status, 400, "follow={wrong}: {refused}");
        assert!(refused["message"].as_str().unwrap_or_default().contains("follow"), "{refused}");
    }
}

#[test]
fn reserved_concurrency_throttles_parallel_calls_with_429_and_releases_after() {
    let server = Server::start();
    server.deploy_fixture("slow", "slow", json!({ "concurrency": 1 }));
    std::thread::scope(|s| {
        let busy = s.spawn(|| server.invoke("slow", "{}").text().unwrap());
        wait_in_progress(&server, "slow");
        let throttled = server.invoke("slow", "{}");
        assert_eq!(throttled.status(), 429);
        assert_eq!(throttled.headers()["x-amzn-errortype"], "TooManyRequestsException");
        let (_, body) = json_body(throttled);
        assert_eq!(body["Reason"], "ReservedFunctionConcurrentInvocationLimitExceeded");
        assert_eq!(busy.join().unwrap(), r#""slow""#);
    });
    assert_eq!(server.invoke("slow", "{}").status(), 200, "permit released after the call");
    let metrics = server.get("/metrics").text().unwrap();
    assert!(metrics.contains(r#"skiff_throttles_total{function="slow",scope="function"} 1"#), "{metrics}");
}

/// Waits until a call of `function` is running (the `slow` fixture's last 500 ms from then).
fn wait_in_progress(server: &Server, function: &str) {
    let gauge = format!(r#"skiff_concurrent_executions{{function="{function}"}}"#);
    let running = common::eventually(Duration::from_secs(5), || common::queues::metric(server, &gauge) == 1.0);
    assert!(running, "no call of {function} started");
}

#[test]
fn the_global_limit_throttles_across_functions() {
    let server = Server::start_with(&["--max-concurrency", "1"]);
    server.deploy_fixture("slow", "slow", json!({}));
    server.deploy_fixture("echo", "echo", json!({}));
    std::thread::scope(|s| {
        let busy = s.spawn(|| server.invoke("slow", "{}").status());
        wait_in_progress(&server, "slow");
        let (status, body) = json_body(server.invoke("echo", "{}"));
        assert_eq!(status, 429);
        assert_eq!(body["Reason"], "ConcurrentInvocationLimitExceeded");
        assert_eq!(busy.join().unwrap(), 200);
    });
}

#[test]
fn a_preview2_python_component_runs() {
    let server = Server::start();
    let resp = server.deploy("hello-py", Some(&common::example("hello-py")), json!({ "memory_mb": 256 }));
    let (status, config) = json_body(resp);
    assert_eq!(status, 201, "{config}");
    assert_eq!(config["code"]["format"], "component");
    let (status, body) = json_body(server.invoke("hello-py", r#"{"name":"Ada","items":[1,2,3]}"#));
    assert_eq!(status, 200);
    assert_eq!(body["message"], "Hello from Python, Ada!");
    assert_eq!(body["function"], "hello-py");
    assert_eq!(body["reversed"], json!([3, 2, 1]));
}

#[test]
fn the_c_example_sees_its_environment() {
    let server = Server::start();
    let resp = server.deploy("hello-c", Some(&common::example("hello-c")), json!({ "memory_mb": 256, "env": { "GREETING": "Ahoy" } }));
    assert_eq!(resp.status(), 201);
    let (_, body) = json_body(server.invoke("hello-c", r#"{"name":"Ada"}"#));
    assert_eq!(body, json!({ "message": "Ahoy, Ada!", "function": "hello-c", "memory_mb": "256" }));
}

#[test]
fn bad_invocations_get_aws_errors() {
    let server = Server::start();
    server.deploy_fixture("echo", "echo", json!({}));
    let cases: Vec<(reqwest::blocking::Response, u16, &str)> = vec![
        (server.invoke("missing", "{}"), 404, "ResourceNotFoundException"),
        (server.invoke("echo", "{not json"), 400, "InvalidRequestContentException"),
        (server.invoke("echo", vec![b' '; 6 * 1024 * 1024 + 1]), 413, "RequestTooLargeException"),
        (server.invoke_with("echo", "{}", &[("X-Amz-Invocation-Type", "Sideways")]), 400, "InvalidParameterValueException"),
        (server.invoke("echo:7", "{}"), 404, "ResourceNotFoundException"),
    ];
    for (resp, status, error_type) in cases {
        assert_eq!(resp.headers()["x-amzn-errortype"], error_type);
        let (got, body) = json_body(resp);
        assert_eq!(got, status, "{body}");
        assert_eq!(body["__type"], error_type);
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // A payload right at the limit is accepted.
    let mut big = vec![b' '; 6 * 1024 * 1024 - 2];
    big.extend_from_slice(b"{}");
    assert_eq!(server.invoke("echo", big).status(), 200);
    let dry = server.invoke_with("echo", "{}", &[("X-Amz-Invocation-Type", "DryRun")]);
    assert_eq!(dry.status(), 204);
}

#[test]
fn function_urls_map_http_to_payload_v2_and_back() {
    let server = Server::start();
    server.deploy_fixture("echo", "echo", json!({}));
    server.deploy_fixture("respond", "respond", json!({}));
    let event: Value = server
        .http()
        .post(format!("{}/fn/echo/orders/42?x=1&x=2&y=3", server.url))
        .header("cookie", "a=1; b=2")
        .header("content-type", "application/json")
        .body(r#"{"item":"tea"}"#)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(event["version"], "2.0");
    assert_eq!(event["rawPath"], "/orders/42");
    assert_eq!(event["rawQueryString"], "x=1&x=2&y=3");
    assert_eq!(event["queryStringParameters"], json!({ "x": "1,2", "y": "3" }));
    assert_eq!(event["cookies"], json!(["a=1", "b=2"]));
    assert_eq!(event["requestContext"]["http"]["method"], "POST");
    assert_eq!(event["requestContext"]["http"]["sourceIp"], "127.0.0.1");
    assert_eq!(event["body"], r#"{"item":"tea"}"#);
    assert_eq!(event["isBase64Encoded"], false);

    let binary: Value = server
        .http()
        .put(format!("{}/fn/echo", server.url))
        .header("content-type", "application/octet-stream")
        .body(vec![0u8, 159, 146, 150])
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(binary["rawPath"], "/");
    assert_eq!(binary["isBase64Encoded"], true);
    assert_eq!(binary["body"], base64::engine::general_purpose::STANDARD.encode([0u8, 159, 146, 150]));

    let resp = server.get("/fn/respond/anything");
    assert_eq!(resp.status(), 201);
    assert_eq!(resp.headers()["x-skiff"], "yes");
    assert_eq!(resp.headers()["set-cookie"], "session=abc; Path=/");
    assert_eq!(resp.text().unwrap(), "created");
}

/// A standard `wasi:http/proxy` component (Python, componentize-py) deploys like any Wasm
/// function: through `/fn` it gets the HTTP request itself and answers with its own status,
/// headers and body; through the Invoke API the event is a `POST /` and the response body the
/// result, a 5xx a function error; its stderr is the call's log.
#[test]
fn a_wasi_http_component_answers_function_urls_and_invocations() {
    let server = Server::start();
    let (status, config) = json_body(server.deploy("web", Some(&common::example("hello-http-py")), json!({ "memory_mb": 256, "timeout_s": 10 })));
    assert_eq!((status, config["code"]["format"].as_str()), (201, Some("component")), "{config}");

    let resp = server.http().put(format!("{}/fn/web/items/7?q=1", server.url)).header("x-greeting", "ahoy").body("the body").send().unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-skiff-example"], "hello-http-py");
    assert_eq!(resp.headers()["content-type"], "application/json");
    let body: serde_json::Value = resp.json().unwrap();
    assert_eq!((body["method"].as_str(), body["path"].as_str()), (Some("PUT"), Some("/items/7?q=1")), "{body}");
    assert_eq!((body["greeting"].as_str(), body["body"].as_str()), (Some("ahoy"), Some("the body")), "{body}");
    let failed = server.get("/fn/web/fail");
    assert_eq!(failed.status(), 500, "the component's own status passes through");
    assert_eq!(failed.json::<serde_json::Value>().unwrap()["error"], "failing as asked");

    let resp = server.invoke_with("web", r#"{"name":"Ada"}"#, &[("X-Amz-Log-Type", "Tail")]);
    assert!(resp.headers().get("x-amz-function-error").is_none());
    let tail = resp.headers()["x-amz-log-result"].to_str().unwrap().to_string();
    let (status, body) = json_body(resp);
    assert_eq!((status, body["method"].as_str(), body["path"].as_str()), (200, Some("POST"), Some("/")), "{body}");
    assert_eq!(body["body"], r#"{"name":"Ada"}"#);
    use base64::Engine as _;
    let log = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(tail).unwrap()).unwrap();
    assert!(log.contains("hello-http-py: POST /"), "{log}");
}

/// Through `/fn` a `wasi:http` component streams: its response reaches the client line by line
/// while it still writes, a request body sent in chunks reaches it whole, a failure mid-body
/// ends the client's body at once (not at the timeout), and bodies past 6 MB are refused. Each
/// call is recorded like any other: its log, the `x-amzn-requestid` it ran under.
#[test]
fn a_wasi_http_component_streams_both_bodies_through_function_urls() {
    use std::io::{Read as _, Write as _};
    let server = Server::start();
    let (status, config) =
        json_body(server.deploy("stream", Some(&common::example("hello-http-py")), json!({ "memory_mb": 256, "timeout_s": 20, "reuse": {} })));
    assert_eq!(status, 201, "{config}");
    server.get("/fn/stream/warm-up");

    let asked = Instant::now();
    let mut resp = server.get("/fn/stream/stream?n=3&ms=1500");
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().contains_key("x-amzn-requestid"));
    let mut first = [0u8; 7];
    resp.read_exact(&mut first).unwrap();
    let first_after = asked.elapsed();
    let mut rest = String::new();
    resp.read_to_string(&mut rest).unwrap();
    let whole_after = asked.elapsed();
    assert_eq!((&first[..], rest.as_str()), (&b"line 0\n"[..], "line 1\nline 2\n"));
    assert!(first_after < Duration::from_millis(1200), "the first line came after {first_after:?}: the body was not streamed");
    assert!(whole_after >= Duration::from_millis(4400), "the whole body came after {whole_after:?}, before the function wrote it");

    // A request body of unknown length arrives in chunks, and reaches the component whole.
    let body = ChunkReader::body((0..50).map(|i| format!("part {i};").into_bytes()).collect());
    let echoed: Value = server.http().post(format!("{}/fn/stream/echo", server.url)).body(body).send().unwrap().json().unwrap();
    let sent: String = (0..50).map(|i| format!("part {i};")).collect();
    assert_eq!(echoed["body"].as_str(), Some(sent.as_str()));
    // Full duplex: each chunk of the request comes back before the client sends the next.
    let whole = common::duplex_exchange(&server.url, "POST", "/fn/stream/duplex", &["first-part;", "second-part;"]);
    assert!(whole.starts_with("HTTP/1.1 200"), "{whole}");

    // On a function of its own, so that the instance that traps is its only one: a call that
    // comes while an instance is still finishing may get another (as on Lambda).
    let (status, config) = json_body(server.deploy("cut", Some(&common::example("hello-http-py")), json!({ "memory_mb": 256, "timeout_s": 20, "reuse": {} })));
    assert_eq!(status, 201, "{config}");
    let asked = Instant::now();
    let mut cut = server.get("/fn/cut/stream?n=2&ms=100&trap=1");
    assert_eq!(cut.status(), 200, "the head went out before the failure");
    let mut read = String::new();
    assert!(cut.read_to_string(&mut read).is_err(), "a body cut by a trap must not read as complete: {read:?}");
    assert!(asked.elapsed() < Duration::from_secs(10), "the cut body ended only after {:?}", asked.elapsed());
    let after: Value = server.get("/fn/cut/").json().unwrap();
    assert_eq!(after["calls"], 1, "the instance that trapped mid-body was not reused");

    // Refused on the declared length alone, before any byte of the body is sent.
    let mut raw = std::net::TcpStream::connect(server.url.trim_start_matches("http://")).unwrap();
    let host = server.url.trim_start_matches("http://");
    write!(raw, "POST /fn/stream/echo HTTP/1.1\r\nHost: {host}\r\nContent-Length: 6291457\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    raw.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "a declared length past 6 MB is refused before the call: {answer}");
    let big = vec![b'x'; 6 * 1024 * 1024 + 1];
    let streamed = ChunkReader::body(vec![big]);
    let cut = server.http().post(format!("{}/fn/stream/echo", server.url)).body(streamed).send().unwrap();
    assert_eq!(cut.status(), 502, "a streamed body past 6 MB fails the call");

    let logs: Value = json_body(server.get("/v1/functions/stream/logs")).1;
    let text = logs["entries"].as_array().unwrap().iter().map(|e| e["text"].as_str().unwrap_or("")).collect::<String>();
    assert!(text.contains("hello-http-py: GET /stream?n=3&ms=1500") && text.contains("REPORT"), "{logs}");
}

/// A reader that hands out one chunk at a time: reqwest sends such a body chunked, as it comes.
struct ChunkReader(std::vec::IntoIter<Vec<u8>>, std::io::Cursor<Vec<u8>>);

impl ChunkReader {
    fn body(chunks: Vec<Vec<u8>>) -> reqwest::blocking::Body {
        reqwest::blocking::Body::new(ChunkReader(chunks.into_iter(), std::io::Cursor::default()))
    }
}

impl std::io::Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            match self.1.read(buf)? {
                0 => match self.0.next() {
                    Some(chunk) => self.1 = std::io::Cursor::new(chunk),
                    None => return Ok(0),
                },
                n => return Ok(n),
            }
        }
    }
}

/// With reuse on, a `wasi:http` component's instance serves the next call, so a counter in a
/// global grows between calls (Lambda's execution environment), up to `max_calls`; a trap, a
/// timeout or the memory cap gives the next call a fresh instance, an idle one expires, and
/// reuse is refused on a WASI command (its `_start` cannot be called twice).
#[test]
fn reused_instances_keep_their_globals_until_they_fail_fill_up_or_expire() {
    let server = Server::start();
    let reuse = json!({ "memory_mb": 256, "timeout_s": 3, "reuse": { "max_calls": 4, "idle_s": 2 } });
    let (status, config) = json_body(server.deploy("warm", Some(&common::example("hello-http-py")), reuse));
    assert_eq!((status, &config["reuse"]), (201, &json!({ "max_calls": 4, "idle_s": 2 })), "{config}");
    let call = |path: &str| {
        let resp = server.get(&format!("/fn/warm{path}"));
        let status = resp.status().as_u16();
        let body: serde_json::Value = resp.json().unwrap_or_default();
        (status, body["calls"].as_u64().unwrap_or(0))
    };
    let counts: Vec<u64> = (0..6).map(|_| call("/").1).collect();
    assert_eq!(counts, [1, 2, 3, 4, 1, 2], "an instance serves max_calls calls, then a new one starts");
    // A call is recorded by its execution, which ends just after the client has its answer.
    let cold = || {
        let metrics = server.get("/metrics").text().unwrap();
        metrics.lines().find(|l| l.starts_with(r#"skiff_cold_starts_total{function="warm"}"#)).map(str::to_string)
    };
    let two = common::eventually(Duration::from_secs(5), || cold().is_some_and(|l| l.ends_with(" 2")));
    assert!(two, "each new instance is a cold start, as on Lambda: {:?}", cold());

    assert_eq!(call("/trap").0, 502, "a trap is a function error");
    assert_eq!(call("/"), (200, 1), "a trapped instance is never reused");
    assert_eq!(call("/sleep?s=5").0, 502, "a timeout is a function error");
    assert_eq!(call("/"), (200, 1), "a timed-out instance is never reused");

    // The memory cap holds across calls of one instance: what a global keeps adds up.
    let grown: Vec<u16> = (0..3).map(|_| call("/grow?mb=100").0).collect();
    assert_eq!(grown, [200, 200, 502], "the third 100 MB kept by one instance passes the 256 MB cap");
    assert_eq!(call("/"), (200, 1), "an instance that hit its memory cap is never reused");
    let invoked = json_body(server.invoke_with("warm", "{}", &[]));
    assert_eq!(invoked.0, 200);

    std::thread::sleep(std::time::Duration::from_millis(3500));
    assert_eq!(call("/").1, 1, "an instance idle past idle_s was dropped");

    let (status, body) = json_body(server.deploy("warm", None, json!({ "reuse": null })));
    assert_eq!((status, body.get("reuse")), (200, None), "{body}");
    assert_eq!((call("/").1, call("/").1), (1, 1), "without reuse every call has a fresh instance");

    let (status, refused) = json_body(server.deploy("cmd", Some(&common::fixture("echo")), json!({ "reuse": {} })));
    assert_eq!(status, 400, "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("reuse needs a wasi:http component"), "{refused}");
    let (status, refused) = json_body(server.deploy("warm", None, json!({ "reuse": { "max_calls": 0 } })));
    assert!(status == 400 && refused["message"].as_str().unwrap().contains("reuse.max_calls"), "{refused}");
}

/// A `wasi:http` component written in C (wit-bindgen's C bindings, wasi-libc, the preview 1
/// proxy adapter) answers through `/fn` and the Invoke API, fresh and reused, and logs on stderr.
#[test]
fn a_c_wasi_http_component_answers_with_its_path() {
    let server = Server::start();
    for (name, settings) in [("c", json!({})), ("c-warm", json!({ "reuse": {} }))] {
        let (status, config) = json_body(server.deploy(name, Some(&common::example("hello-http-c")), settings));
        assert_eq!((status, config["code"]["format"].as_str()), (201, Some("component")), "{config}");
        for _ in 0..2 {
            let resp = server.get(&format!("/fn/{name}/items?q=2"));
            assert_eq!(resp.status(), 200);
            assert_eq!(resp.headers()["x-skiff-example"], "hello-http-c");
            assert_eq!(resp.text().unwrap(), "hello from C: /items?q=2\n");
        }
        let resp = server.invoke_with(name, "{}", &[("X-Amz-Log-Type", "Tail")]);
        let tail = resp.headers()["x-amz-log-result"].to_str().unwrap().to_string();
        assert_eq!(resp.text().unwrap(), "hello from C: /\n");
        let log = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(tail).unwrap()).unwrap();
        assert!(log.contains("hello-http-c: /"), "{log}");
    }
}

/// The smallest `wasi:http` component (a WAT core module wrapped by tools/wat-component, what
/// the benchmarks compare with `wasmtime serve`) answers an empty 200, with and without reuse.
#[test]
fn a_no_op_wasi_http_component_answers_an_empty_200() {
    let server = Server::start();
    for (name, settings) in [("noop", json!({})), ("noop-warm", json!({ "reuse": {} }))] {
        let (status, config) = json_body(server.deploy(name, Some(&common::example("noop-http")), settings));
        assert_eq!(status, 201, "{config}");
        for _ in 0..3 {
            let resp = server.get(&format!("/fn/{name}/anything"));
            assert_eq!(resp.status(), 200);
            assert!(resp.bytes().unwrap().is_empty());
        }
        let (status, body) = (server.invoke(name, "{}").status(), ());
        assert_eq!((status.as_u16(), body), (200, ()));
    }
}
