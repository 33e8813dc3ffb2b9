//! Asynchronous invocations against the real server, each test run twice: on the embedded queue
//! and on the real RabbitMQ the test command starts. The promise under test: once Skiff answers
//! 202, the event is processed at least once or lands in a dead-letter queue.

mod common;

use common::queues::{metric, send_event, status, unique, wait_states, Backend, Callbacks};
use common::{eventually, json_body, Server};
use serde_json::{json, Value};
use std::time::Duration;

/// Runs a test body once per queue backend.
macro_rules! on_both_queues {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn embedded() {
                super::$name(super::Backend::Embedded)
            }
            #[test]
            fn rabbitmq() {
                super::$name(super::Backend::RabbitMq)
            }
        }
    )*};
}

on_both_queues!(
    accepted_events_are_all_processed,
    failures_are_retried_with_backoff_then_dead_lettered_and_redriven,
    events_past_their_maximum_age_are_dead_lettered,
    bad_async_requests_are_refused_and_change_nothing,
    a_kill_9_with_a_backlog_loses_nothing,
    a_graceful_stop_with_a_backlog_loses_nothing,
    success_records_reach_a_queue_and_its_trigger,
);

fn accepted_events_are_all_processed(backend: Backend) {
    let server = backend.start();
    let callbacks = Callbacks::start();
    let (f, sink) = (unique("echo"), unique("sink"));
    server.deploy_fixture(&sink, "echo", json!({}));
    server.deploy_fixture(&f, "echo", json!({ "events": { "on_success": format!("function:{sink}") } }));
    let n = 100;
    let mut ids: Vec<String> = (0..n)
        .map(|i| {
            let (code, id) = send_event(&server, &f, &format!("{{\"n\":{i}}}"), Some(&callbacks.url));
            assert_eq!(code, 202, "event {i} not accepted");
            assert_eq!(id.len(), 36, "no request id");
            id
        })
        .collect();
    // The native route takes events too.
    let resp = server.http().post(format!("{}/v1/functions/{f}/events", server.url)).body(r#"{"native":true}"#).send().unwrap();
    let (code, body) = json_body(resp);
    assert_eq!(code, 202, "{body}");
    ids.push(body["request_id"].as_str().unwrap().to_string());

    let lost = wait_states(&server, &ids, "succeeded", Duration::from_secs(60));
    assert!(lost.is_empty(), "{} of {} events not processed: {lost:?}\n{}", lost.len(), ids.len(), server.stderr());
    let first = status(&server, &ids[0]).unwrap();
    assert_eq!(first["result"], json!({ "n": 0 }));
    assert_eq!(first["attempts"], 1);
    assert!(first["finished_ms"].as_u64().unwrap() >= first["accepted_ms"].as_u64().unwrap());

    // Every event with a callback URL was called back, with its final status.
    assert!(eventually(Duration::from_secs(20), || callbacks.counts().0 == n), "callbacks: {:?}", callbacks.counts());
    let called = callbacks.of(&ids[5]);
    assert_eq!(called[0]["state"], "succeeded");
    assert_eq!(called[0]["result"], json!({ "n": 5 }));

    // Each success sent a Lambda-shaped destination record to the sink function.
    let sink_runs = format!("skiff_invocations_total{{function=\"{sink}\",outcome=\"success\"}}");
    assert!(eventually(Duration::from_secs(30), || metric(&server, &sink_runs) == (n + 1) as f64), "sink ran {} times", metric(&server, &sink_runs));
    let accepted = format!("skiff_async_events_accepted_total{{function=\"{f}\"}}");
    assert_eq!(metric(&server, &accepted), (n + 1) as f64);
}

fn failures_are_retried_with_backoff_then_dead_lettered_and_redriven(backend: Backend) {
    let server = backend.start();
    let f = unique("flaky");
    server.deploy_fixture(&f, "trap", json!({ "events": { "max_retries": 2, "retry_delay_ms": 200 } }));
    let (code, id) = send_event(&server, &f, r#"{"k":1}"#, None);
    assert_eq!(code, 202);
    assert!(wait_states(&server, std::slice::from_ref(&id), "failed", Duration::from_secs(30)).is_empty(), "{}", server.stderr());
    let s = status(&server, &id).unwrap();
    assert_eq!(s["attempts"], 3, "{s}");
    assert_eq!(s["dead_letter"], "RetriesExhausted");
    assert_eq!(s["error"]["errorType"], "Runtime.Unhandled");
    // Two backoffs happened: at least half of 200 ms, then half of 400 ms (equal jitter).
    let took = s["finished_ms"].as_u64().unwrap() - s["accepted_ms"].as_u64().unwrap();
    assert!(took >= 300, "retries were not delayed: all done in {took} ms");

    let cli = server.cli(&["status", &id]);
    let out = String::from_utf8_lossy(&cli.stdout);
    assert!(!cli.status.success(), "a failed invocation's status exits non-zero");
    assert!(out.contains("state:      failed") && out.contains("dead letter: RetriesExhausted"), "{out}");

    // The dead letter holds the event, its last error and the attempt count.
    let ls = server.cli(&["dlq", "ls", &f]);
    let out = String::from_utf8_lossy(&ls.stdout);
    assert!(ls.status.success() && out.contains(&id) && out.contains("RetriesExhausted"), "{out}");
    let show = server.cli(&["dlq", "show", &f, "--id", &id]);
    let shown: Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(shown["body"]["payload"], json!({ "k": 1 }));
    assert_eq!(shown["body"]["attempts"], 3);
    assert_eq!(shown["body"]["last_error"]["errorType"], "Runtime.Unhandled");
    let (_, page) = json_body(server.get(&format!("/v1/functions/{f}/dlq")));
    assert_eq!(page["total"], 1);
    let missing = server.cli(&["dlq", "redrive", &f, "--id", "no-such-id"]);
    assert!(!missing.status.success());
    assert_eq!(json_body(server.get(&format!("/v1/functions/{f}/dlq"))).1["total"], 1, "a failed redrive changed the DLQ");

    // Fixed, then redriven: it runs again and succeeds.
    server.deploy_fixture(&f, "echo", json!({}));
    let redrive = server.cli(&["dlq", "redrive", &f, "--id", &id]);
    assert!(String::from_utf8_lossy(&redrive.stdout).contains("redriven: 1"), "{redrive:?}");
    assert!(wait_states(&server, std::slice::from_ref(&id), "succeeded", Duration::from_secs(30)).is_empty());
    let s = status(&server, &id).unwrap();
    assert_eq!((s["redrives"].clone(), s["result"].clone()), (json!(1), json!({ "k": 1 })));
    let cli = server.cli(&["status", &id, "--json"]);
    assert!(cli.status.success());
    assert_eq!(serde_json::from_slice::<Value>(&cli.stdout).unwrap()["state"], "succeeded");
    assert_eq!(json_body(server.get(&format!("/v1/functions/{f}/dlq"))).1["total"], 0);
    let dead = format!("skiff_dead_letters_total{{function=\"{f}\"}}");
    assert_eq!(metric(&server, &dead), 1.0);
}

fn events_past_their_maximum_age_are_dead_lettered(backend: Backend) {
    let server = backend.start();
    // A retry that would start past the maximum age is not scheduled.
    let f = unique("aging");
    server.deploy_fixture(&f, "trap", json!({ "events": { "max_event_age_s": 1, "retry_delay_ms": 3000 } }));
    let (_, id) = send_event(&server, &f, "{}", None);
    assert!(wait_states(&server, std::slice::from_ref(&id), "failed", Duration::from_secs(30)).is_empty());
    let s = status(&server, &id).unwrap();
    assert_eq!((s["dead_letter"].clone(), s["attempts"].clone()), (json!("EventAgeExceeded"), json!(1)), "{s}");

    // Events that waited in the queue past their age never run. Concurrency 1 and 500 ms per
    // call: of six events, the later ones are more than a second old when their turn comes.
    let g = unique("backlog");
    server.deploy_fixture(&g, "slow", json!({ "concurrency": 1, "events": { "max_event_age_s": 1 } }));
    let ids: Vec<String> = (0..6).map(|_| send_event(&server, &g, "{}", None).1).collect();
    assert!(wait_states(&server, &ids[..1], "succeeded", Duration::from_secs(30)).is_empty());
    assert!(wait_states(&server, &ids[5..], "failed", Duration::from_secs(30)).is_empty());
    let last = status(&server, &ids[5]).unwrap();
    assert_eq!((last["dead_letter"].clone(), last["attempts"].clone()), (json!("EventAgeExceeded"), json!(0)), "{last}");
    let (_, page) = json_body(server.get(&format!("/v1/functions/{g}/dlq?limit=10")));
    assert!(page["total"].as_u64().unwrap() >= 1);
    assert!(page["messages"].as_array().unwrap().iter().all(|m| m["body"]["condition"] == "EventAgeExceeded"));
}

fn bad_async_requests_are_refused_and_change_nothing(backend: Backend) {
    let server = backend.start();
    let f = unique("strict");
    server.deploy_fixture(&f, "echo", json!({}));
    let event = |payload: String, headers: &[(&str, &str)]| {
        let mut all = vec![("X-Amz-Invocation-Type", "Event")];
        all.extend_from_slice(headers);
        json_body(server.invoke_with(&f, payload, &all))
    };
    let too_big = format!("\"{}\"", "x".repeat(1024 * 1024));
    let (code, body) = event(too_big, &[]);
    assert_eq!((code, body["__type"].as_str()), (413, Some("RequestTooLargeException")), "{body}");
    let (code, body) = event("{nope".into(), &[]);
    assert_eq!((code, body["__type"].as_str()), (400, Some("InvalidRequestContentException")));
    // Deeper than a status could later be shown.
    let (code, body) = event(format!("{}{}", "[".repeat(129), "]".repeat(129)), &[]);
    assert_eq!(code, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("nested deeper than 128"), "{body}");
    let (code, body) = event("{}".into(), &[("X-Callback-Url", "ftp://example")]);
    assert_eq!((code, body["__type"].as_str()), (400, Some("InvalidParameterValueException")), "{body}");
    let (code, _) = json_body(server.invoke_with("no-such-fn", "{}", &[("X-Amz-Invocation-Type", "Event")]));
    assert_eq!(code, 404);
    let (code, _) = json_body(server.get("/v1/invocations/no-such-id"));
    assert_eq!(code, 404);
    for bad in [
        json!({ "events": { "max_retries": 11 } }),
        json!({ "events": { "max_event_age_s": 0 } }),
        json!({ "events": { "on_success": "somewhere" } }),
        json!({ "events": { "on_success": format!("function:{f}") } }),
        json!({ "events": { "surprise": 1 } }),
        // A list where an object belongs: serde alone would read it as the fields in order.
        json!({ "events": [3, 60] }),
    ] {
        let (code, body) = json_body(server.deploy(&f, None, bad.clone()));
        assert_eq!(code, 400, "{bad} accepted: {body}");
    }
    assert_eq!(json_body(server.get(&format!("/v1/functions/{f}"))).1["version"], 1, "a refused deploy changed the function");
    let accepted = format!("skiff_async_events_accepted_total{{function=\"{f}\"}}");
    assert_eq!(metric(&server, &accepted), 0.0);
    // Still serving.
    let (code, id) = send_event(&server, &f, "{}", None);
    assert_eq!(code, 202);
    assert!(wait_states(&server, &[id], "succeeded", Duration::from_secs(20)).is_empty());
}

fn a_kill_9_with_a_backlog_loses_nothing(backend: Backend) {
    restart_with_a_backlog(backend, true);
}

/// SIGTERM: events running finish and are acked; the rest stay queued for the next start.
fn a_graceful_stop_with_a_backlog_loses_nothing(backend: Backend) {
    restart_with_a_backlog(backend, false);
}

fn restart_with_a_backlog(backend: Backend, crash: bool) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let args = backend.args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let callbacks = Callbacks::start();
    let server = Server::start_in(&data, &args);
    let f = unique("steady");
    server.deploy_fixture(&f, "slow", json!({ "concurrency": 2 }));
    let n = 30;
    let ids: Vec<String> = (0..n).map(|i| send_event(&server, &f, &format!("{{\"i\":{i}}}"), Some(&callbacks.url)).1).collect();
    assert!(eventually(Duration::from_secs(30), || callbacks.counts().0 >= 4));
    if crash {
        server.kill9();
    } else {
        assert!(server.stop().success());
    }
    let before = callbacks.counts().0;
    assert!(before < n, "the backlog was gone before the crash");

    let server = Server::start_in(&data, &args);
    let lost = wait_states(&server, &ids, "succeeded", Duration::from_secs(90));
    assert!(lost.is_empty(), "lost {} of {n} accepted events: {lost:?}\n{}", lost.len(), server.stderr());
    assert!(eventually(Duration::from_secs(20), || callbacks.counts().0 == n));
    let (distinct, total) = callbacks.counts();
    // At least once: events running at the crash may run again; that is allowed, and counted.
    let how = if crash { "kill -9" } else { "SIGTERM" };
    println!("{how} ({backend:?}): {n} accepted, {distinct} processed, {} duplicates, {before} done before the crash", total - distinct);
}

/// An on-success destination that is a queue, consumed by a trigger: the record of each success
/// flows on to the next function, on either backend.
fn success_records_reach_a_queue_and_its_trigger(backend: Backend) {
    let server = backend.start();
    let (first, next, queue) = (unique("first"), unique("next"), unique("done-q"));
    server.deploy_fixture(&next, "echo", json!({}));
    server.deploy_fixture(&first, "echo", json!({ "events": { "on_success": format!("queue:{queue}") } }));
    let (code, body) = json_body(
        server
            .http()
            .post(format!("{}/v1/triggers", server.url))
            .json(&json!({ "function": next, "queue": queue, "batch_size": 10, "batch_window_ms": 200 }))
            .send()
            .unwrap(),
    );
    assert_eq!(code, 201, "{body}");
    let ids: Vec<String> = (0..4).map(|i| send_event(&server, &first, &format!("{{\"i\":{i}}}"), None).1).collect();
    assert!(wait_states(&server, &ids, "succeeded", Duration::from_secs(30)).is_empty());
    let acked = format!("skiff_trigger_messages_total{{function=\"{next}\",outcome=\"acked\"}}");
    assert!(eventually(Duration::from_secs(30), || metric(&server, &acked) == 4.0), "{}", server.stderr());
    // Batched, so fewer runs than records.
    let runs = metric(&server, &format!("skiff_invocations_total{{function=\"{next}\",outcome=\"success\"}}"));
    assert!((1.0..4.0).contains(&runs), "{runs} runs for 4 records");
}

/// On-success destinations cannot loop: a loop that a deploy would close is refused, and any
/// chain (a loop made where no deploy could see it looks the same to the events) stops after
/// 16 hops, Lambda's bound: the 17th event is dead-lettered with its condition, never run.
#[test]
fn chains_of_destinations_stop_at_sixteen_hops() {
    let server = Backend::Embedded.start();
    let names: Vec<String> = (0..18).map(|i| unique(&format!("hop{i}"))).collect();
    for (i, name) in names.iter().enumerate().rev() {
        let events = match names.get(i + 1) {
            Some(next) => json!({ "on_success": format!("function:{next}") }),
            None => json!({}),
        };
        // A function with no output: each record nests the one before only once, not twice.
        server.deploy_fixture(name, "noop", json!({ "events": events }));
    }
    let closing = json!({ "events": { "on_success": format!("function:{}", names[0]) } });
    let (code, body) = json_body(server.deploy(&names[17], None, closing));
    assert_eq!(code, 400, "{body}");
    assert!(body.to_string().contains("would form a loop"), "{body}");

    let (code, id) = send_event(&server, &names[0], r#"{"start":true}"#, None);
    assert_eq!(code, 202);
    assert!(wait_states(&server, &[id], "succeeded", Duration::from_secs(30)).is_empty());
    let dlq = format!("/v1/functions/{}/dlq?limit=10", names[17]);
    assert!(eventually(Duration::from_secs(30), || json_body(server.get(&dlq)).1["total"] == 1), "{}", server.stderr());
    let (_, page) = json_body(server.get(&dlq));
    let stopped = &page["messages"][0]["body"];
    assert_eq!(stopped["condition"], "RecursiveInvocationLoop", "{page}");
    assert_eq!(stopped["hops"], 17, "{page}");
    let runs = |f: &str| metric(&server, &format!("skiff_invocations_total{{function=\"{f}\",outcome=\"success\"}}"));
    assert_eq!((runs(&names[16]), runs(&names[17])), (1.0, 0.0), "hop 16 ran, hop 17 did not");
    let stops = format!("skiff_destination_loops_stopped_total{{function=\"{}\"}}", names[17]);
    assert_eq!(metric(&server, &stops), 1.0);
    // Seventeen records deep, the original payload is still there (never replaced by null).
    let mut record = stopped["payload"].clone();
    for _ in 0..17 {
        record = record["requestPayload"].clone();
    }
    assert_eq!(record, json!({ "start": true }), "{stopped}");
}

/// A receiver that answers every request with `answer` and records each request line.
fn receiver(answer: &'static str) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            record.lock().unwrap().push(line.trim().to_string());
            let _ = reader.get_mut().write_all(answer.as_bytes());
        }
    });
    (format!("127.0.0.1:{port}"), seen)
}

/// The callback URL is the caller's choice, so the server must not become their proxy: private,
/// loopback and link-local addresses in any spelling are refused unless the operator allowed
/// them, redirects are not followed, and URLs are logged without their credentials.
#[test]
fn callbacks_go_only_where_the_operator_allows() {
    let closed = Server::start();
    closed.deploy_fixture("hooked", "echo", json!({}));
    for url in [
        "http://127.0.0.1:9/x",
        "http://0x7f000001/x",
        "http://2130706433/x",
        "http://localhost:9/x",
        "http://[::1]/x",
        "http://169.254.169.254/latest",
        "http://a:b@10.0.0.1/x",
    ] {
        let (code, _) = send_event(&closed, "hooked", "{}", Some(url));
        assert_eq!(code, 400, "{url} accepted");
    }
    assert!(!closed.stderr().contains("a:b@"), "credentials logged");
    drop(closed);

    let server = Backend::Embedded.start();
    server.deploy_fixture("hooked", "echo", json!({}));
    let (redirector, redirected) = receiver("HTTP/1.1 307 Temporary Redirect\r\nlocation: /elsewhere\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    let (failing, failed) = receiver("HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    let (_, a) = send_event(&server, "hooked", "{}", Some(&format!("http://{redirector}/done")));
    let (_, b) = send_event(&server, "hooked", "{}", Some(&format!("http://hook:s3cret@{failing}/done")));
    assert!(wait_states(&server, &[a, b], "succeeded", Duration::from_secs(20)).is_empty());
    // Failed tries are retried after 1 s, then 2 s.
    assert!(eventually(Duration::from_secs(15), || redirected.lock().unwrap().len() >= 2 && failed.lock().unwrap().len() >= 2));
    assert!(redirected.lock().unwrap().iter().all(|line| line.starts_with("POST /done ")), "a redirect was followed: {redirected:?}");
    let log = server.stderr();
    assert!(log.contains("callback failed, will retry"), "{log}");
    assert!(!log.contains("s3cret") && !log.contains("hook:"), "credentials logged: {log}");
}

/// A callback receiver that never answers delays only its own callbacks: the event's execution
/// slot is free as soon as the invocation ends, so with concurrency 1 the next events run at once.
#[test]
fn a_slow_callback_does_not_hold_the_functions_slot() {
    let blackhole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/never", blackhole.local_addr().unwrap());
    let server = Backend::Embedded.start();
    server.deploy_fixture("single", "echo", json!({ "concurrency": 1 }));
    let (_, first) = send_event(&server, "single", r#"{"n":0}"#, Some(&url));
    assert!(wait_states(&server, std::slice::from_ref(&first), "succeeded", Duration::from_secs(10)).is_empty());
    let later: Vec<String> = (1..4).map(|n| send_event(&server, "single", &format!("{{\"n\":{n}}}"), None).1).collect();
    // Less than the receiver's first try may take (5 s): nothing waits for it.
    let late = wait_states(&server, &later, "succeeded", Duration::from_secs(4));
    assert!(late.is_empty(), "events waited for another event's callback: {late:?}");
    let retried = "skiff_callbacks_total{outcome=\"retried\"}";
    assert!(eventually(Duration::from_secs(15), || metric(&server, retried) >= 1.0), "{}", server.stderr());
}
