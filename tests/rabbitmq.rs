//! What only a real RabbitMQ can show: the broker going away and coming back under load, and
//! queue triggers fed by an independent AMQP client (pika).

mod common;

use common::queues::{metric, send_event, unique, wait_states, PrivateBroker, RABBITMQ_URL};
use common::{eventually, json_body, Server};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

#[test]
fn a_broker_restart_mid_stream_loses_nothing_and_consumers_recover() {
    let broker = PrivateBroker::start();
    let server = Server::start_with(&["--amqp-url", &broker.url]);
    let f = unique("steady");
    server.deploy_fixture(&f, "slow", json!({ "concurrency": 2 }));
    let mut accepted: Vec<String> = (0..20)
        .map(|i| send_event(&server, &f, &format!("{{\"i\":{i}}}"), None))
        .map(|(code, id)| {
            assert_eq!(code, 202);
            id
        })
        .collect();
    // Some done, a backlog in the broker, two running.
    assert!(wait_states(&server, &accepted[..2], "succeeded", Duration::from_secs(30)).is_empty());

    broker.down();
    // No broker: the event is refused with a retryable 503, never a 202 for an event that could
    // be lost.
    let resp = server.invoke_with(&f, "{}", &[("X-Amz-Invocation-Type", "Event")]);
    let (code, body) = json_body(resp);
    assert_eq!((code, body["__type"].as_str()), (503, Some("ServiceException")), "{body}");

    broker.up();
    // The server reconnects by itself; new events are accepted again.
    let mut back = None;
    assert!(
        eventually(Duration::from_secs(60), || {
            let (code, id) = send_event(&server, &f, r#"{"after":true}"#, None);
            back = (code == 202).then_some(id);
            back.is_some()
        }),
        "no 202 after the broker came back\n{}",
        server.stderr()
    );
    accepted.extend(back);
    accepted.extend((0..5).map(|_| send_event(&server, &f, "{}", None).1));
    // Every accepted event ran: those queued before the outage, those running during it (their
    // acks failed, so the broker redelivered them), and those sent after.
    let lost = wait_states(&server, &accepted, "succeeded", Duration::from_secs(90));
    assert!(lost.is_empty(), "lost {} of {}: {lost:?}\n{}", lost.len(), accepted.len(), server.stderr());
    let runs = metric(&server, &format!("skiff_invocations_total{{function=\"{f}\",outcome=\"success\"}}"));
    println!("broker restart: {} accepted, {} lost, {} runs ({} repeated)", accepted.len(), lost.len(), runs, runs - accepted.len() as f64);
}

/// Publishes with pika, an AMQP client independent of Skiff: persistent messages with ids and
/// headers, to `exchange` (declared here, as a user's application would).
fn pika_publish(exchange: &str, routing_key: &str, messages: &[(&str, &str)]) {
    let script = r#"
import json, sys, pika
exchange, key, messages = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
conn = pika.BlockingConnection(pika.URLParameters(sys.argv[4]))
ch = conn.channel()
ch.exchange_declare(exchange=exchange, exchange_type="topic", durable=True)
ch.confirm_delivery()
for mid, body in messages:
    ch.basic_publish(exchange=exchange, routing_key=key, body=body.encode(),
        properties=pika.BasicProperties(message_id=mid, delivery_mode=2, headers={"source": "pika"}))
conn.close()
"#;
    let messages = serde_json::to_string(messages).unwrap();
    let out = Command::new("python3").args(["-c", script, exchange, routing_key, &messages, RABBITMQ_URL]).output().unwrap();
    assert!(out.status.success(), "pika: {}", String::from_utf8_lossy(&out.stderr));
}

fn pika_declare_exchange(exchange: &str) {
    pika_publish(exchange, "none", &[]);
}

#[test]
fn a_trigger_delivers_batches_and_retries_only_reported_failures() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start_in(&data, &["--amqp-url", RABBITMQ_URL]);
    let f = unique("orders");
    let (code, body) = json_body(server.deploy(&f, None, json!({ "image": "skiff-tests/probe:latest" })));
    assert!(code < 300, "{body}");
    let (exchange, queue) = (unique("shop"), unique("orders-q"));
    pika_declare_exchange(&exchange);

    // Bad trigger definitions are refused, and nothing is created.
    let bad = server.cli(&["trigger", "add", "--function", "no-such-fn", "--queue", &queue]);
    assert!(!bad.status.success());
    let bad = server.cli(&["trigger", "add", "--function", &f, "--queue", &queue, "--batch-size", "0"]);
    assert!(!bad.status.success());
    let bad = server.cli(&["trigger", "add", "--function", &f, "--queue", &queue, "--exchange", "no-such-exchange"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no-such-exchange"), "{bad:?}");
    let resp = server
        .http()
        .post(format!("{}/v1/triggers", server.url))
        .json(&json!({ "function": f, "queue": queue, "exchange": "no-such-exchange" }))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 400, "a missing exchange is the caller's mistake, not a server error");
    assert_eq!(json_body(server.get("/v1/triggers")).1["triggers"], json!([]));

    let add = server.cli(&[
        "trigger",
        "add",
        "--function",
        &f,
        "--queue",
        &queue,
        "--exchange",
        &exchange,
        "--routing-key",
        "orders.#",
        "--batch-size",
        "5",
        "--batch-window-ms",
        "500",
        "--max-retries",
        "1",
        "--retry-delay-ms",
        "100",
    ]);
    assert!(add.status.success(), "{add:?}");
    let id = String::from_utf8_lossy(&add.stdout).trim().to_string();
    let ls = server.cli(&["trigger", "ls"]);
    assert!(String::from_utf8_lossy(&ls.stdout).contains(&id));

    // Ten messages; the function reports two of them in batchItemFailures.
    let messages: Vec<(String, String)> = (0..10).map(|i| (format!("m{i}"), if i == 3 || i == 7 { format!("fail-{i}") } else { format!("ok-{i}") })).collect();
    let refs: Vec<(&str, &str)> = messages.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    pika_publish(&exchange, "orders.new", &refs);

    let series = |outcome: &str| format!("skiff_trigger_messages_total{{function=\"{f}\",outcome=\"{outcome}\"}}");
    assert!(
        eventually(Duration::from_secs(60), || metric(&server, &series("dead_lettered")) == 2.0),
        "acked {} retried {} dead {}\n{}",
        metric(&server, &series("acked")),
        metric(&server, &series("retried")),
        metric(&server, &series("dead_lettered")),
        server.stderr()
    );
    assert_eq!(metric(&server, &series("acked")), 8.0);
    assert_eq!(metric(&server, &series("retried")), 2.0);
    // Batched: far fewer invocations than messages (ten messages in batches of up to five, plus
    // the retries of the two failures).
    let calls = metric(&server, &format!("skiff_invocations_total{{function=\"{f}\",outcome=\"success\"}}"));
    assert!((2.0..=6.0).contains(&calls), "{calls} invocations for 12 deliveries");

    // Only the reported failures are in the trigger's dead-letter queue, with their headers.
    let (_, page) = json_body(server.get(&format!("/v1/triggers/{id}/dlq")));
    let dead: BTreeSet<&str> = page["messages"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(dead, BTreeSet::from(["m3", "m7"]), "{page}");
    let m3 = &page["messages"].as_array().unwrap().iter().find(|m| m["id"] == "m3").unwrap().clone();
    assert_eq!(m3["body"], "fail-3");
    assert_eq!(m3["headers"]["source"], "pika");
    assert_eq!(m3["headers"]["x-skiff-attempt"], 2);
    let cli = server.cli(&["dlq", "ls", "--trigger", &id]);
    assert!(String::from_utf8_lossy(&cli.stdout).contains("m7"));

    // Redriven, they fail the same way and come back to the dead-letter queue.
    let redrive = server.cli(&["dlq", "redrive", "--trigger", &id, "--all"]);
    assert!(String::from_utf8_lossy(&redrive.stdout).contains("redriven: 2"), "{redrive:?}");
    assert!(eventually(Duration::from_secs(60), || metric(&server, &series("dead_lettered")) == 4.0));
    assert_eq!(json_body(server.get(&format!("/v1/triggers/{id}/dlq"))).1["total"], 2);

    // Triggers are persisted: after a restart the same trigger consumes new messages.
    server.stop();
    let server = Server::start_in(&data, &["--amqp-url", RABBITMQ_URL]);
    let (_, all) = json_body(server.get("/v1/triggers"));
    assert_eq!(all["triggers"][0]["id"], id.as_str());
    pika_publish(&exchange, "orders.late", &[("late", "ok-late")]);
    assert!(eventually(Duration::from_secs(60), || metric(&server, &series("acked")) == 1.0), "{}", server.stderr());
    let record_seen: Value = json_body(server.get(&format!("/v1/functions/{f}/logs"))).1;
    assert!(record_seen["entries"].as_array().is_some_and(|e| !e.is_empty()));

    let rm = server.cli(&["trigger", "rm", &id]);
    assert!(rm.status.success());
    assert_eq!(json_body(server.get("/v1/triggers")).1["triggers"], json!([]));
}

/// Publishes one message straight into a queue (the default exchange), as anyone who can reach
/// the broker could.
fn pika_to_queue(queue: &str, id: &str, body: &str) {
    let script = r#"
import sys, pika
conn = pika.BlockingConnection(pika.URLParameters(sys.argv[4]))
ch = conn.channel()
ch.confirm_delivery()
ch.basic_publish(exchange="", routing_key=sys.argv[1], body=sys.argv[3].encode(),
    properties=pika.BasicProperties(message_id=sys.argv[2], delivery_mode=2), mandatory=True)
conn.close()
"#;
    let out = Command::new("python3").args(["-c", script, queue, id, body, RABBITMQ_URL]).output().unwrap();
    assert!(out.status.success(), "pika: {}", String::from_utf8_lossy(&out.stderr));
}

/// Two servers on one broker each keep their own queues (named by the server's id), so events
/// sent to one run there, never on the other's function of the same name; and a message someone
/// else publishes into a server's queue is dead-lettered unrun: it cannot set a callback URL or
/// pose as an event Skiff accepted.
#[test]
fn servers_sharing_a_broker_keep_their_events_and_refuse_forged_ones() {
    let args = ["--amqp-url", RABBITMQ_URL, "--callback-allow", "127.0.0.1"];
    let (a, b) = (Server::start_with(&args), Server::start_with(&args));
    let f = unique("shared-name");
    for server in [&a, &b] {
        server.deploy_fixture(&f, "echo", json!({}));
    }
    let ids: Vec<String> = (0..20).map(|i| send_event(&a, &f, &format!("{{\"i\":{i}}}"), None).1).collect();
    assert!(wait_states(&a, &ids, "succeeded", Duration::from_secs(30)).is_empty(), "{}", a.stderr());
    let runs = |s: &Server| metric(s, &format!("skiff_invocations_total{{function=\"{f}\",outcome=\"success\"}}"));
    assert_eq!((runs(&a), runs(&b)), (20.0, 0.0));

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let forged = json!({
        "request_id": "forged-1", "function": f, "payload": { "i": 99 }, "attempts": 0, "accepted_ms": 1,
        "callback_url": format!("http://{}/stolen", listener.local_addr().unwrap()),
    });
    let queue = format!("skiff.{}.fn.{f}", &a.owner()[..12]);
    pika_to_queue(&queue, "forged-1", &forged.to_string());
    let dlq = format!("/v1/functions/{f}/dlq?limit=10");
    assert!(eventually(Duration::from_secs(20), || json_body(a.get(&dlq)).1["total"] == 1), "{}", a.stderr());
    let (_, page) = json_body(a.get(&dlq));
    assert!(page["messages"][0]["headers"]["x-skiff-error"].as_str().unwrap().contains("signature"), "{page}");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(runs(&a), 20.0, "the forged event ran");
    assert!(listener.accept().is_err(), "the forged callback was called");
}

/// Lambda's event source mappings, made with unmodified boto3, are queue triggers: pika's
/// messages in the mapped queue run the function; what a trigger cannot do is refused by name.
#[test]
fn boto3_event_source_mappings_are_queue_triggers() {
    let server = Server::start_with(&["--amqp-url", RABBITMQ_URL]);
    let f = unique("mapped");
    server.deploy_fixture(&f, "echo", json!({}));
    let queue = unique("mapped-q");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/boto3_mappings.py");
    let out = Command::new("python3").arg(script).args([&server.url, RABBITMQ_URL, &f, &queue]).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.contains("all checks passed"), "{text}\n{}", server.stderr());
}
