//! Several nodes on one 3-member etcd: shared definitions, calls meeting at a function's home
//! node, membership and loss, the internal channel's secret, and etcd without quorum.

mod common;

use common::cluster::{all_ready, executed_on, node_dir, node_states, start_node, start_nodes, wait_all_ready, Etcd, LEASE_TTL_S, SECRET};
use common::{eventually, json_body, Server};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Invocations of `function` this node ran, from its own metrics.
fn ran_here(server: &Server, function: &str) -> u64 {
    let text = server.get("/metrics").text().unwrap();
    text.lines()
        .filter(|l| l.starts_with("skiff_invocations_total{") && l.contains(&format!("function=\"{function}\"")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[test]
fn a_deploy_on_one_node_is_served_by_every_node_and_calls_meet_at_the_home_node() {
    let etcd = Etcd::start();
    let root = tempfile::tempdir().unwrap();
    let nodes = start_nodes(&etcd, root.path());
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    a.deploy_fixture("echo", "echo", json!({}));
    let deployed = Instant::now();
    for other in [b, c] {
        assert!(eventually(Duration::from_secs(1), || other.get("/v1/functions/echo").status() == 200), "deploy not seen within 1 s");
    }
    eprintln!("deploy seen on every node after {:?}", deployed.elapsed());

    // Calls arriving at b and c, where echo is not warm, all meet at one node: its home.
    let mut executors = std::collections::BTreeSet::new();
    for (i, node) in [b, c].iter().cycle().take(10).enumerate() {
        let resp = node.invoke("echo", format!("{{\"n\":{i}}}"));
        assert_eq!(resp.status(), 200);
        executors.insert(executed_on(&resp));
        assert_eq!(resp.json::<Value>().unwrap(), json!({ "n": i }));
    }
    assert_eq!(executors.len(), 1, "calls ran on {executors:?}");
    let home = executors.into_iter().next().unwrap();
    let ran: Vec<u64> = nodes.iter().map(|n| ran_here(n, "echo")).collect();
    let home_index = ["a", "b", "c"].iter().position(|n| *n == home).unwrap();
    assert_eq!(ran[home_index], 10, "the home ran every call: {ran:?}");
    assert_eq!(ran.iter().sum::<u64>(), 10, "no call ran twice: {ran:?}");
    // Logs gather from every node: each node lists the 10 calls, wherever they ran.
    for n in &nodes {
        let logs: Value = n.get("/v1/functions/echo/logs?limit=50").json().unwrap();
        assert_eq!(logs["entries"].as_array().unwrap().len(), 10, "{logs}");
    }
    // Following at a node that is not the home streams the home's executions as they finish.
    let follower = &nodes[(home_index + 1) % 3];
    let stream = follower.get("/v1/functions/echo/logs?limit=0&follow=true");
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stream));
    for i in 0..3 {
        assert_eq!(follower.invoke("echo", format!("{{\"followed\":{i}}}")).status(), 200);
        let line: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
        assert_eq!(line["function"], "echo", "{line}");
    }
    let metrics = nodes[home_index].get("/metrics").text().unwrap();
    let series = format!(r#"skiff_invocations_total{{function="echo",outcome="success",node="{home}"}} 13"#);
    assert!(metrics.contains(&series), "metrics carry the node label: {metrics}");

    // `skiff nodes --json` lists the three with their capacity.
    let out = c.cli(&["--json", "nodes"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 3);
    for node in listed {
        assert_eq!(node["state"], "ready");
        assert!(node["capacity"]["cpus"].as_u64().unwrap() >= 1 && node["capacity"]["memory_mib"].as_u64().unwrap() > 0);
        assert!(node["in_flight"].is_u64(), "{node}");
        assert!(node["advertise"].as_str().unwrap().starts_with("http://127.0.0.1:"));
    }
}

/// A function URL called at a node that is not the function's home streams both ways through
/// the node that forwards it: the response's lines arrive as the component writes them, each
/// chunk of the request body reaches the component (and comes back) before the client sends
/// the next, and a client that waits for `100 Continue` gets it.
#[test]
fn a_function_url_streams_both_bodies_through_the_forwarding_node() {
    let etcd = Etcd::start();
    let root = tempfile::tempdir().unwrap();
    let nodes = start_nodes(&etcd, root.path());
    let (status, config) = json_body(nodes[0].deploy("web", Some(&common::example("hello-http-py")), json!({ "memory_mb": 256, "timeout_s": 20 })));
    assert_eq!(status, 201, "{config}");
    let names = ["a", "b", "c"];
    let forwarder = nodes
        .iter()
        .zip(names)
        .find(|(node, name)| {
            let resp = node.get("/fn/web/warm-up");
            assert_eq!(resp.status(), 200);
            executed_on(&resp) != *name
        })
        .map(|(node, _)| node)
        .expect("calls at two of three nodes meet at the home: one of them forwards");

    let asked = Instant::now();
    let mut resp = forwarder.get("/fn/web/stream?n=3&ms=1500");
    assert_eq!(resp.status(), 200);
    let mut first = [0u8; 7];
    std::io::Read::read_exact(&mut resp, &mut first).unwrap();
    let first_after = asked.elapsed();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut resp, &mut rest).unwrap();
    assert_eq!((&first[..], rest.as_str()), (&b"line 0\n"[..], "line 1\nline 2\n"));
    assert!(first_after < Duration::from_millis(1200), "the first line came after {first_after:?}: the forwarding node held the body");

    let whole = common::duplex_exchange(&forwarder.url, "POST", "/fn/web/duplex", &["first-part;", "second-part;", "third-part;"]);
    assert!(whole.starts_with("HTTP/1.1 200"), "{whole}");
    // A GET's chunked body goes through too (hyper sends one only when told it is chunked).
    let whole = common::duplex_exchange(&forwarder.url, "GET", "/fn/web/duplex", &["get-part;"]);
    assert!(whole.starts_with("HTTP/1.1 200"), "{whole}");

    // A client that waits for `100 Continue` before its body (curl, over 1 KiB) gets it through
    // the forwarding node, and its body reaches the component whole.
    let body = "x".repeat(4096);
    let answer = common::expect_continue_exchange(&forwarder.url, "/fn/web/echo", &body);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // The echo comes back chunked (the component writes 4 KiB at a time): count the body's bytes.
    let echoed = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    assert_eq!(echoed.matches('x').count(), body.len(), "{answer}");
}

#[test]
fn internal_routes_and_forwarded_calls_need_the_cluster_secret() {
    let etcd = Etcd::start();
    let root = tempfile::tempdir().unwrap();
    let a = start_node(&etcd, "a", &node_dir(root.path(), "a"), &[]);
    a.deploy_fixture("echo", "echo", json!({}));
    let http = a.http();
    let load = format!("{}/internal/v1/load", a.url);
    assert_eq!(http.get(&load).send().unwrap().status(), 401);
    assert_eq!(http.get(&load).header("x-skiff-cluster-secret", "wrong").send().unwrap().status(), 401);
    assert_eq!(http.get(&load).header("x-skiff-cluster-secret", SECRET).send().unwrap().status(), 200);
    let blob = format!("{}/internal/v1/blobs/{}", a.url, "0".repeat(64));
    assert_eq!(http.get(&blob).send().unwrap().status(), 401);
    assert_eq!(http.get(&blob).header("x-skiff-cluster-secret", SECRET).send().unwrap().status(), 404);
    // A blob whose bytes do not match its name is refused.
    let put = http.put(&blob).header("x-skiff-cluster-secret", SECRET).body("not that").send().unwrap();
    assert_eq!(put.status(), 400);
    // A call claiming to come from a node must prove it.
    let forged = a.invoke_with("echo", "{}", &[("x-skiff-forwarded-by", "b")]);
    assert_eq!(forged.status(), 401);
    let ok = a.invoke("echo", "{}");
    assert_eq!((ok.status().as_u16(), executed_on(&ok)), (200, "a".to_string()));

    // A second live node cannot take a ready node's name.
    let twin = Server::try_start_in(&node_dir(root.path(), "a2"), &["--etcd", &etcd.endpoints(), "--node", "a", "--cluster-secret", SECRET]).err().unwrap();
    assert!(twin.contains("node name a") && twin.contains(&a.url.replace("http://", "")), "{twin}");
    // A cluster node without a secret does not start.
    let refused = Server::try_start_in(&node_dir(root.path(), "x"), &["--etcd", &etcd.endpoints(), "--node", "x"]).err().unwrap();
    assert!(refused.contains("--cluster-secret"), "{refused}");
}

#[test]
fn a_single_node_names_itself_on_every_invocation() {
    let server = Server::start_with(&["--node", "solo"]);
    server.deploy_fixture("echo", "echo", json!({}));
    let resp = server.invoke("echo", "{}");
    assert_eq!((resp.status().as_u16(), executed_on(&resp)), (200, "solo".to_string()));
    assert_eq!(node_states(&server), [("solo".to_string(), "ready".to_string())]);
}

#[test]
fn a_killed_node_is_marked_lost_its_code_and_calls_are_served_elsewhere_and_it_rejoins() {
    let etcd = Etcd::start();
    let root = tempfile::tempdir().unwrap();
    let mut nodes = start_nodes(&etcd, root.path());
    nodes[0].deploy_fixture("echo", "echo", json!({}));
    let a_dir = nodes[0].data_dir.clone();
    // `a` deployed (and holds the code); it dies before anyone else ran the function.
    let a = nodes.remove(0);
    let killed = Instant::now();
    a.kill9();
    let (b, c) = (&nodes[0], &nodes[1]);
    let mut failures = 0;
    let mut calls = 0;
    while killed.elapsed() < Duration::from_secs(LEASE_TTL_S + 2) {
        for node in [b, c] {
            calls += 2;
            let resp = node.invoke("echo", "{\"k\":1}");
            if resp.status() != 200 || executed_on(&resp) == "a" {
                failures += 1;
            }
            // A function URL's body, streamed, still reaches a live node whole when the home is
            // unreachable: no byte of it went to the dead one.
            let chunked = reqwest::blocking::Body::new(std::io::Cursor::new(b"streamed body".to_vec()));
            let url = format!("{}/fn/echo/url", node.url);
            let resp = node.http().post(url).header("content-type", "text/plain").body(chunked).send().unwrap();
            let passed_over = resp.status() == 200 && executed_on(&resp) != "a";
            if !passed_over || resp.json::<Value>().unwrap()["body"] != "streamed body" {
                failures += 1;
            }
        }
    }
    assert_eq!(failures, 0, "{failures} of {calls} calls failed after a node died");
    assert!(eventually(Duration::from_secs(LEASE_TTL_S + 2), || node_states(b).contains(&("a".into(), "lost".into()))), "a is not lost: {:?}", node_states(b));
    eprintln!("a was seen lost {:?} after kill -9; {calls} calls succeeded meanwhile", killed.elapsed());

    let back = start_node(&etcd, "a", &a_dir, &[]);
    assert!(eventually(Duration::from_secs(5), || all_ready(b, 3)), "{:?}", node_states(b));
    let resp = back.invoke("echo", "{}");
    assert_eq!(resp.status(), 200);
}

#[test]
fn without_etcd_quorum_deployed_functions_serve_and_writes_get_503() {
    let mut etcd = Etcd::start();
    let root = tempfile::tempdir().unwrap();
    let nodes = start_nodes(&etcd, root.path());
    nodes[0].deploy_fixture("echo", "echo", json!({}));
    for n in &nodes {
        assert!(eventually(Duration::from_secs(5), || n.get("/v1/functions/echo").status() == 200));
    }
    etcd.kill(0);
    etcd.kill(1);
    for round in 0..3 {
        for n in &nodes {
            let resp = n.invoke("echo", format!("{{\"round\":{round}}}"));
            assert_eq!(resp.status(), 200, "a call failed without quorum");
        }
    }
    assert_eq!(nodes[1].get("/v1/functions/echo").status(), 200, "reads serve the last known state");
    let started = Instant::now();
    let resp = nodes[1].deploy("other", Some(&common::fixture("echo")), json!({}));
    let (status, body) = common::json_body(resp);
    assert_eq!(status, 503, "{body}");
    assert!(body["message"].as_str().unwrap_or_default().contains("unavailable"), "{body}");
    assert!(started.elapsed() < Duration::from_secs(15), "the deploy took {:?} to fail", started.elapsed());
    assert_eq!(nodes[2].get("/v1/functions/other").status(), 404, "nothing half-written");
}

#[test]
fn reserved_concurrency_holds_across_the_cluster_and_spills_to_nodes_with_room() {
    let etcd = Etcd::start();
    let root = tempfile::tempdir().unwrap();
    let nodes = start_nodes(&etcd, root.path());
    // Each call blocks until its 3 s timeout: the 12 calls, forwarded calls included, are all
    // admitted or refused well inside it even on a loaded machine.
    nodes[0].deploy_fixture("held", "sleep", json!({ "concurrency": 4, "timeout_s": 3 }));
    for n in &nodes {
        assert!(eventually(Duration::from_secs(5), || n.get("/v1/functions/held").status() == 200));
    }
    // 12 calls at once, 4 arriving at each node.
    let barrier = std::sync::Barrier::new(12);
    let outcomes: Vec<(u16, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..12)
            .map(|i| {
                let (node, barrier) = (&nodes[i % 3], &barrier);
                s.spawn(move || {
                    barrier.wait();
                    let resp = node.invoke("held", "{}");
                    (resp.status().as_u16(), executed_on(&resp))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ran: Vec<&String> = outcomes.iter().filter(|(s, _)| *s == 200).map(|(_, n)| n).collect();
    let throttled = outcomes.iter().filter(|(s, _)| *s == 429).count();
    assert_eq!((ran.len(), throttled), (4, 8), "{outcomes:?}");
    // Shares of 4 over 3 nodes are 2, 1, 1: the calls spilled over to every node.
    let on: std::collections::BTreeSet<&String> = ran.iter().copied().collect();
    assert_eq!(on.len(), 3, "ran on {ran:?}");
}

#[test]
fn async_events_survive_a_node_and_a_broker_node_dying_mid_stream() {
    use common::queues::{send_event, unique, Callbacks, PrivateBroker};
    let brokers: Vec<PrivateBroker> = (0..3).map(|_| PrivateBroker::start()).collect();
    brokers[1].join(&brokers[0]);
    brokers[2].join(&brokers[0]);
    let etcd = Etcd::start();
    let root = tempfile::tempdir().unwrap();
    // Each node lists the broker's nodes starting from a different one.
    let mut nodes: Vec<Server> = ["a", "b", "c"]
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let list: Vec<&str> = (0..3).map(|k| brokers[(i + k) % 3].url.as_str()).collect();
            start_node(&etcd, name, &node_dir(root.path(), name), &["--amqp-url", &list.join(",")])
        })
        .collect();
    wait_all_ready(&nodes.iter().collect::<Vec<_>>());
    let f = unique("steady");
    nodes[0].deploy_fixture(&f, "slow", json!({ "concurrency": 3 }));
    for n in &nodes {
        assert!(eventually(Duration::from_secs(5), || n.get(&format!("/v1/functions/{f}")).status() == 200));
    }
    let callbacks = Callbacks::start();
    let total = 60;
    let accepted: Vec<String> = (0..total)
        .map(|i| {
            let (code, id) = send_event(&nodes[[0, 2][i % 2]], &f, &format!("{{\"i\":{i}}}"), Some(&callbacks.url));
            assert_eq!(code, 202);
            id
        })
        .collect();
    assert!(eventually(Duration::from_secs(30), || callbacks.counts().0 >= 6), "nothing ran");
    // Mid-stream: a Skiff node and a RabbitMQ node die without a goodbye.
    nodes.remove(1).kill9();
    brokers[1].kill9();
    let done = eventually(Duration::from_secs(120), || callbacks.counts().0 == total);
    let (distinct, calls) = callbacks.counts();
    let missing: Vec<&String> = accepted.iter().filter(|id| callbacks.of(id).is_empty()).collect();
    assert!(done, "{} of {total} events never finished: {missing:?}", total - distinct);
    println!("async across nodes: {total} accepted, {distinct} processed, {} repeated after the deaths", calls - distinct);
    // A surviving node reports the status of an event wherever it was accepted and ran (the
    // last ones ran seconds after the deaths, on a or c: the records of what b ran died with b).
    for id in accepted.iter().rev().take(10) {
        let status = common::queues::status(&nodes[1], id).expect("a status from any node");
        assert_eq!(status["state"], "succeeded", "{status}");
    }
}

#[test]
fn a_paused_node_is_lost_while_paused_and_rejoins_when_resumed() {
    let etcd = Etcd::start();
    let root = tempfile::tempdir().unwrap();
    let nodes = start_nodes(&etcd, root.path());
    nodes[0].deploy_fixture("echo", "echo", json!({}));
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    let pause = |sig: &str| assert!(std::process::Command::new("kill").args([sig, &b.pid().to_string()]).status().unwrap().success());
    pause("-STOP");
    let paused = Instant::now();
    let b_lost = || node_states(a).contains(&("b".into(), "lost".into()));
    assert!(eventually(Duration::from_secs(LEASE_TTL_S + 3), b_lost), "b not lost: {:?}", node_states(a));
    eprintln!("a paused node was seen lost after {:?}", paused.elapsed());
    // While b is lost no call goes to it.
    for node in [a, c].iter().cycle().take(10) {
        let resp = node.invoke("echo", "{}");
        assert_eq!(resp.status(), 200);
        assert_ne!(executed_on(&resp), "b");
    }
    pause("-CONT");
    assert!(eventually(Duration::from_secs(LEASE_TTL_S + 3), || all_ready(a, 3) && all_ready(b, 3)), "{:?}", node_states(a));
    assert!(b.stderr().contains("rejoining"), "b announced itself again under a new lease");
    let resp = b.invoke("echo", "{}");
    assert_eq!(resp.status(), 200);
}

#[test]
fn a_container_image_reaches_another_node_through_the_registry_by_digest() {
    let etcd = Etcd::start();
    let root = tempfile::tempdir().unwrap();
    // The hello-rust example with a label of this run's own, so its image is no other test's and
    // can be removed from the engine.
    let context = root.path().join("image");
    std::fs::create_dir_all(&context).unwrap();
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("functions/hello-rust");
    std::fs::copy(example.join("bootstrap"), context.join("bootstrap")).unwrap();
    let dockerfile = std::fs::read_to_string(example.join("Dockerfile")).unwrap();
    let name = common::queues::unique("reg");
    std::fs::write(context.join("Dockerfile"), format!("{dockerfile}LABEL skiff.test={name}\n")).unwrap();

    let a = start_node(&etcd, "a", &node_dir(root.path(), "a"), &[]);
    let out = a.cli(&["deploy", "--name", &name, "--build", context.to_str().unwrap(), "--registry", "127.0.0.1:5005"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let config: Value = a.get(&format!("/v1/functions/{name}")).json().unwrap();
    let image = config["code"]["image"].as_str().unwrap().to_string();
    let id = config["code"]["id"].as_str().unwrap().to_string();
    assert!(image.starts_with(&format!("127.0.0.1:5005/skiff-fn-{name}@sha256:")), "{config}");
    drop(a);
    // The engine forgets the image; a node that never saw it gets it from the registry.
    let removed = std::process::Command::new("docker").args(["rmi", "-f", &id]).output().unwrap();
    assert!(removed.status.success(), "{}", String::from_utf8_lossy(&removed.stderr));
    let b = start_node(&etcd, "b", &node_dir(root.path(), "b"), &[]);
    let resp = b.invoke(&name, r#"{"name":"registry"}"#);
    let (status, body) = common::json_body(resp);
    assert_eq!(status, 200, "{body}\n{}", b.stderr());
    assert!(body.to_string().contains("registry"), "{body}");
    let present = std::process::Command::new("docker").args(["image", "inspect", &id]).output().unwrap();
    assert!(present.status.success(), "the node pulled the deployed image by digest");
    let _ = std::process::Command::new("docker").args(["rmi", "-f", &id]).output();
}

#[test]
fn a_node_cut_off_from_etcd_takes_no_writes_keeps_serving_and_is_marked_lost() {
    use common::cluster::{start_node_via, Cut};
    let etcd = Etcd::start();
    let root = tempfile::tempdir().unwrap();
    // a and c reach etcd through members 0 and 1; b only through member 2, which is then cut off
    // from b (the etcd cluster itself keeps its quorum).
    let (ac, b_only) = (format!("{},{}", etcd.client_urls[0], etcd.client_urls[1]), etcd.client_urls[2].clone());
    let a = start_node_via(&ac, "a", &node_dir(root.path(), "a"), &[]);
    let b = start_node_via(&b_only, "b", &node_dir(root.path(), "b"), &[]);
    let c = start_node_via(&ac, "c", &node_dir(root.path(), "c"), &[]);
    wait_all_ready(&[&a, &b, &c]);
    a.deploy_fixture("echo", "echo", json!({}));
    assert!(eventually(Duration::from_secs(5), || b.get("/v1/functions/echo").status() == 200));

    let port: u16 = b_only.rsplit(':').next().unwrap().parse().unwrap();
    let cut = Cut::port(port);
    let cut_at = Instant::now();
    assert!(eventually(Duration::from_secs(LEASE_TTL_S + 3), || node_states(&a).contains(&("b".into(), "lost".into()))), "b not lost: {:?}", node_states(&a));
    eprintln!("a node cut off from etcd was seen lost after {:?}", cut_at.elapsed());
    let started = Instant::now();
    let (status, body) = common::json_body(b.deploy("other", Some(&common::fixture("echo")), json!({})));
    assert_eq!(status, 503, "{body}");
    assert!(started.elapsed() < Duration::from_secs(15));
    assert_eq!(a.get("/v1/functions/other").status(), 404, "nothing half-written");
    // b still serves what it knew, on its own.
    let resp = b.invoke("echo", "{}");
    assert_eq!(resp.status(), 200);

    drop(cut);
    assert!(eventually(Duration::from_secs(LEASE_TTL_S + 5), || all_ready(&a, 3)), "b did not rejoin: {:?}", node_states(&a));
}

#[test]
fn a_service_definition_is_known_on_every_node_and_one_node_runs_its_copies() {
    let etcd = Etcd::start();
    let root = tempfile::tempdir().unwrap();
    let nodes = start_nodes(&etcd, root.path());
    let name = common::queues::unique("svc");
    let body = json!({
        "image": "skiff-examples/hello-service:latest", "port": 8080, "count": 1, "memory_mb": 64, "cpu": 0.2,
        "health": { "path": "/healthz", "interval_ms": 200, "timeout_ms": 150, "healthy_threshold": 1,
                    "unhealthy_threshold": 2, "grace_period_ms": 1000 },
    });
    let put = nodes[0].http().put(format!("{}/v1/services/{name}", nodes[0].url)).json(&body).send().unwrap();
    assert!(put.status().is_success(), "{}", put.text().unwrap());
    for n in &nodes {
        assert!(eventually(Duration::from_secs(1), || n.get(&format!("/v1/services/{name}")).status() == 200), "not known on a node");
    }
    // One node (the holder of the service's lease) runs its one copy.
    let copies = |n: &Server| n.containers(&[("skiff.service", name.as_str())]).len();
    assert!(eventually(Duration::from_secs(30), || nodes.iter().map(copies).sum::<usize>() == 1), "copies: {:?}", nodes.iter().map(copies).collect::<Vec<_>>());
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(nodes.iter().map(copies).sum::<usize>(), 1, "never a second copy for the one slot");
    // Deleted on another node: gone everywhere, and its copy with it.
    let deleted = nodes[2].http().delete(format!("{}/v1/services/{name}", nodes[2].url)).send().unwrap();
    assert!(deleted.status().is_success(), "{}", deleted.text().unwrap());
    for n in &nodes {
        assert!(eventually(Duration::from_secs(1), || n.get(&format!("/v1/services/{name}")).status() == 404));
    }
    assert!(eventually(Duration::from_secs(30), || nodes.iter().map(copies).sum::<usize>() == 0), "the copy outlived its service");
}

/// Versions and aliases live in etcd like functions: published on one node, aliased on
/// another, and a qualified call at any node runs the version the alias names, wherever the
/// function's home is.
#[test]
fn versions_and_aliases_made_on_one_node_are_served_by_every_node() {
    let etcd = Etcd::start();
    let root = tempfile::tempdir().unwrap();
    let nodes = start_nodes(&etcd, root.path());
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    a.deploy_fixture("canary", "echo", json!({}));
    for n in [b, c] {
        assert!(eventually(Duration::from_secs(5), || n.get("/v1/functions/canary").status() == 200));
    }
    let lambda = |node: &Server, path: &str, body: Value| {
        let resp = node.http().post(format!("{}/2015-03-31/functions/canary/{path}", node.url)).json(&body).send().unwrap();
        let status = resp.status().as_u16();
        (status, resp.json::<Value>().unwrap())
    };
    let (status, v1) = lambda(b, "versions", json!({}));
    assert_eq!((status, v1["Version"].as_str()), (201, Some("1")), "{v1}");
    let trap = c.deploy_fixture("canary", "trap", json!({}));
    let (status, alias) = lambda(a, "aliases", json!({ "Name": "live", "FunctionVersion": "1" }));
    assert_eq!(status, 201, "{alias}");
    // Every node learns of the alias and the update through its watch, a moment later.
    let known = |node: &Server| {
        node.get("/2015-03-31/functions/canary/aliases/live").status() == 200 && json_body(node.get("/v1/functions/canary")).1["code"] == trap["code"]
    };
    assert!(eventually(Duration::from_secs(5), || [a, b, c].into_iter().all(known)), "the alias and the update did not reach every node");
    for node in [a, b, c] {
        let resp = node.invoke("canary:live", r#"{"n":1}"#);
        assert_eq!(resp.headers()["x-amz-executed-version"], "1");
        assert!(resp.headers().get("x-amz-function-error").is_none());
        assert_eq!(resp.json::<Value>().unwrap(), json!({ "n": 1 }));
        let latest = node.invoke("canary", "{}");
        assert_eq!(latest.headers()["x-amz-executed-version"], "$LATEST");
        assert!(latest.headers().get("x-amz-function-error").is_some(), "$LATEST is the trapping code");
    }
    // A second publish from another node takes the next number, never the same one.
    let (status, v2) = lambda(c, "versions", json!({}));
    assert_eq!((status, v2["Version"].as_str()), (201, Some("2")), "{v2}");
}

/// A zip function deployed through one node runs on the others after that node is gone and the
/// engine has lost its image: the node that takes the call builds the image again from the
/// stored zip (fetched from the peer that kept the second copy). Deleting the function then
/// removes the image.
#[test]
fn a_zip_function_outlives_its_deploying_node_and_its_image() {
    let etcd = Etcd::start();
    let root = tempfile::tempdir().unwrap();
    let mut nodes = start_nodes(&etcd, root.path());
    let name = common::queues::unique("zipnode");
    let code = root.path().join("code");
    std::fs::create_dir_all(&code).unwrap();
    std::fs::write(code.join("app.py"), "def handler(event, context):\n    return {'zipped': event}\n").unwrap();
    let deploy = ["deploy", "--name", &name, "--runtime", "python3.11", "--handler", "app.handler", "--code", code.to_str().unwrap(), "--timeout", "10"];
    let out = nodes[0].cli(&deploy);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let config = json_body(nodes[0].get(&format!("/v1/functions/{name}"))).1;
    let image = config["code"]["image"].as_str().unwrap().to_string();
    drop(nodes.remove(0));
    let removed = std::process::Command::new("docker").args(["rmi", "-f", &image]).output().unwrap();
    assert!(removed.status.success(), "{}", String::from_utf8_lossy(&removed.stderr));
    let (b, c) = (&nodes[0], &nodes[1]);
    let a_gone = |node: &Server| node_states(node).iter().any(|(name, state)| name == "a" && state != "ready");
    assert!(eventually(Duration::from_secs(LEASE_TTL_S + 5), || a_gone(b) && a_gone(c)), "{:?}", node_states(b));
    for node in [b, c] {
        let (status, body) = json_body(node.invoke(&name, r#"{"n":1}"#));
        assert_eq!((status, &body), (200, &json!({ "zipped": { "n": 1 } })), "{}", node.stderr());
    }
    let present = || std::process::Command::new("docker").args(["image", "inspect", &image]).output().unwrap().status.success();
    assert!(present(), "the image was built again under its tag");
    assert_eq!(c.get(&format!("/v1/functions/{name}")).status(), 200);
    assert!(c.cli(&["rm", &name]).status.success());
    assert!(eventually(Duration::from_secs(60), || !present()), "the image outlived its function");
}
