//! Services placed across a cluster by its one scheduler: spread, binpack and constraints over
//! node attributes, `/svc` from any node to copies on every node, a node's loss and return, and
//! a paused old scheduler that wakes up unable to act.

mod common;

use common::cluster::{node_dir, node_states, start_node, wait_all_ready, Etcd, LEASE_TTL_S, SECRET};
use common::{eventually, Server};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const IMAGE: &str = "skiff-examples/hello-service:latest";

/// Nodes `a`, `b`, `c` with zones `x`, `y`, `y` and `extra` flags each.
fn start_zoned(etcd: &Etcd, root: &std::path::Path, extra: &[&str]) -> Vec<Server> {
    let nodes: Vec<Server> = [("a", "x"), ("b", "y"), ("c", "y")]
        .iter()
        .map(|(n, zone)| {
            let attribute = format!("zone={zone}");
            let mut args = vec!["--attribute", attribute.as_str()];
            args.extend_from_slice(extra);
            start_node(etcd, n, &node_dir(root, n), &args)
        })
        .collect();
    wait_all_ready(&nodes.iter().collect::<Vec<_>>());
    nodes
}

fn service(count: u32, placement: Value) -> Value {
    json!({
        "image": IMAGE, "port": 8080, "count": count, "memory_mb": 64, "cpu": 0.1,
        "health": { "path": "/healthz", "interval_ms": 200, "timeout_ms": 150, "healthy_threshold": 1,
                    "unhealthy_threshold": 2, "grace_period_ms": 2000 },
        "deployment": { "drain_timeout_ms": 1000 },
        "placement": placement,
    })
}

fn deploy(server: &Server, name: &str, body: &Value) {
    let resp = server.http().put(format!("{}/v1/services/{name}", server.url)).json(body).send().unwrap();
    assert!(resp.status().is_success(), "{}", resp.text().unwrap());
}

fn get(server: &Server, name: &str) -> Value {
    server.get(&format!("/v1/services/{name}")).json().unwrap()
}

/// Healthy copies per node, as `server` reports the service.
fn healthy_per_node(server: &Server, name: &str) -> BTreeMap<String, usize> {
    let mut per_node = BTreeMap::new();
    for copy in get(server, name)["copies"].as_array().cloned().unwrap_or_default() {
        if copy["state"] == "healthy" {
            *per_node.entry(copy["node"].as_str().unwrap().to_string()).or_default() += 1;
        }
    }
    per_node
}

fn total(per_node: &BTreeMap<String, usize>) -> usize {
    per_node.values().sum()
}

/// Running containers of the service on each node's engine, by each node's owner label.
fn containers_per_node(nodes: &[&Server], name: &str) -> Vec<usize> {
    nodes.iter().map(|n| n.containers(&[("skiff.service", name)]).len()).collect()
}

/// The node holding the scheduler's lease, as `server` lists the nodes.
fn scheduler(server: &Server) -> Option<String> {
    let body: Value = server.get("/v1/nodes").json().ok()?;
    body["nodes"].as_array()?.iter().find(|n| n["scheduler"] == true).map(|n| n["name"].as_str().unwrap().to_string())
}

#[test]
fn spread_places_a_copy_per_node_and_every_node_routes_to_all_of_them() {
    let etcd = Etcd::start();
    let root = tempfile::tempdir().unwrap();
    let nodes = start_zoned(&etcd, root.path(), &[]);
    let name = common::queues::unique("spread");
    deploy(&nodes[1], &name, &service(3, json!({})));
    assert!(
        eventually(Duration::from_secs(30), || healthy_per_node(&nodes[0], &name) == BTreeMap::from([("a".into(), 1), ("b".into(), 1), ("c".into(), 1)])),
        "{:?}",
        get(&nodes[0], &name)
    );
    assert_eq!(containers_per_node(&nodes.iter().collect::<Vec<_>>(), &name), [1, 1, 1], "each node's engine runs its copy");
    // Every node knows where each copy is and reaches all three through /svc.
    for n in &nodes {
        let endpoints: Value = n.get(&format!("/v1/services/{name}/endpoints")).json().unwrap();
        let mut on: Vec<&str> = endpoints["endpoints"].as_array().unwrap().iter().map(|e| e["node"].as_str().unwrap()).collect();
        on.sort();
        assert_eq!(on, ["a", "b", "c"], "{endpoints}");
        let mut instances = std::collections::HashSet::new();
        assert!(
            eventually(Duration::from_secs(5), || {
                let resp = n.get(&format!("/svc/{name}/"));
                if resp.status() == 200 {
                    instances.insert(resp.json::<Value>().unwrap()["instance"].as_str().unwrap().to_string());
                }
                instances.len() == 3
            }),
            "node {} reached only {instances:?}",
            n.url
        );
    }
    // The CLI shows the node of each copy.
    let out = nodes[2].cli(&["service", "endpoints", &name, "--json"]);
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(listed["endpoints"].as_array().unwrap().iter().all(|e| e["node"].is_string()), "{listed}");
}

#[test]
fn binpack_fills_one_node_first_and_constraints_are_honoured_or_the_copy_stays_pending() {
    let etcd = Etcd::start();
    let root = tempfile::tempdir().unwrap();
    // 200 MiB per node: three 64 MB copies fit on one.
    let nodes = start_zoned(&etcd, root.path(), &["--capacity-memory", "200"]);
    let packed = common::queues::unique("binpack");
    deploy(&nodes[0], &packed, &service(4, json!({"strategy": "binpack"})));
    assert!(eventually(Duration::from_secs(30), || total(&healthy_per_node(&nodes[0], &packed)) == 4), "{:?}", get(&nodes[0], &packed));
    let mut counts: Vec<usize> = healthy_per_node(&nodes[0], &packed).into_values().collect();
    counts.sort();
    assert_eq!(counts, [1, 3], "one node filled before the next is used");

    // Zone y only: nodes b and c; never a.
    let zoned = common::queues::unique("zoned");
    deploy(&nodes[2], &zoned, &service(2, json!({"constraints": ["member-of attribute:zone == y", "distinct-node"]})));
    assert!(eventually(Duration::from_secs(30), || total(&healthy_per_node(&nodes[0], &zoned)) == 2), "{:?}", get(&nodes[0], &zoned));
    assert!(!healthy_per_node(&nodes[0], &zoned).contains_key("a"));

    // No node in zone z: nothing starts, and the service says why.
    let nowhere = common::queues::unique("nowhere");
    deploy(&nodes[1], &nowhere, &service(1, json!({"constraints": ["member-of attribute:zone == z"]})));
    assert!(
        eventually(Duration::from_secs(10), || get(&nodes[0], &nowhere)["pending"].as_str().is_some_and(|p| p.contains("member-of attribute:zone == z"))),
        "{:?}",
        get(&nodes[0], &nowhere)
    );
    assert_eq!(get(&nodes[0], &nowhere)["copies"].as_array().unwrap().len(), 0);
    let out = nodes[1].cli(&["service", "get", &nowhere]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("pending"), "{}", String::from_utf8_lossy(&out.stdout));
    // A bad constraint is refused with what is wrong, and changes nothing.
    let resp = nodes[0]
        .http()
        .put(format!("{}/v1/services/{nowhere}", nodes[0].url))
        .json(&service(1, json!({"constraints": ["member-of zone == z"]})))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.text().unwrap().contains("member-of"));
}

#[test]
fn a_killed_nodes_copies_come_back_elsewhere_and_its_return_leaves_no_duplicate() {
    let etcd = Etcd::start();
    let root = tempfile::tempdir().unwrap();
    let mut nodes = start_zoned(&etcd, root.path(), &[]);
    let name = common::queues::unique("loss");
    deploy(&nodes[0], &name, &service(3, json!({})));
    assert!(eventually(Duration::from_secs(30), || total(&healthy_per_node(&nodes[0], &name)) == 3));
    // Kill the node that does not schedule and is not the one we ask, so the test sees
    // replacement rather than a change of scheduler.
    let boss = scheduler(&nodes[0]).expect("a scheduler");
    let victim = ["b", "c"].into_iter().find(|n| *n != boss).unwrap();
    let index = ["a", "b", "c"].iter().position(|n| *n == victim).unwrap();
    let victim_owner = nodes[index].owner();
    nodes.remove(index).kill9();
    let killed = Instant::now();
    // /svc keeps answering throughout, from the surviving nodes.
    let mut failures = 0;
    let mut replaced = None;
    while killed.elapsed() < Duration::from_secs(LEASE_TTL_S + 15) {
        for n in &nodes {
            if n.get(&format!("/svc/{name}/")).status() != 200 {
                failures += 1;
            }
        }
        let per_node = healthy_per_node(&nodes[0], &name);
        if replaced.is_none() && total(&per_node) == 3 && !per_node.contains_key(victim) {
            replaced = Some(killed.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let replaced = replaced.unwrap_or_else(|| panic!("copies not replaced: {:?}", get(&nodes[0], &name)));
    eprintln!("a killed node's copy was replaced and healthy after {replaced:?} (lease TTL {LEASE_TTL_S} s)");
    assert!(replaced < Duration::from_secs(LEASE_TTL_S + 5), "replaced after {replaced:?}");
    assert_eq!(failures, 0, "/svc failed while the node was down");
    // Its container is still running on the engine (kill -9 of the node, not of the copy).
    assert_eq!(common::owned_containers(&victim_owner, &[("skiff.service", name.as_str())]).len(), 1);
    // The node comes back: the copy it still runs is no longer placed there and goes.
    let back = start_node(&etcd, victim, &node_dir(root.path(), victim), &["--attribute", "zone=y"]);
    assert!(
        eventually(Duration::from_secs(20), || back.containers(&[("skiff.service", name.as_str())]).is_empty()),
        "the returning node still runs {:?}",
        back.containers(&[("skiff.service", name.as_str())])
    );
    let mut all: Vec<&Server> = nodes.iter().collect();
    all.push(&back);
    assert_eq!(containers_per_node(&all, &name).iter().sum::<usize>(), 3, "exactly the desired copies");
    assert_eq!(total(&healthy_per_node(&back, &name)), 3);
}

/// The create revision of the scheduler's lease key: its current term.
fn scheduler_term(etcd: &Etcd) -> u64 {
    let out = std::process::Command::new("etcdctl").args(["--endpoints", &etcd.endpoints(), "get", "/skiff/leases/scheduler", "-w", "json"]).output().unwrap();
    let body: Value = serde_json::from_slice(&out.stdout).unwrap();
    body["kvs"][0]["create_revision"].as_u64().expect("the scheduler lease is held")
}

#[test]
fn a_paused_scheduler_resumed_cannot_act_and_no_slot_gets_two_copies() {
    let etcd = Etcd::start();
    let root = tempfile::tempdir().unwrap();
    let nodes = start_zoned(&etcd, root.path(), &[]);
    let name = common::queues::unique("fenced");
    deploy(&nodes[0], &name, &service(2, json!({})));
    assert!(eventually(Duration::from_secs(30), || total(&healthy_per_node(&nodes[0], &name)) == 2));
    let old = scheduler(&nodes[0]).unwrap();
    let old_term = scheduler_term(&etcd);
    let paused = ["a", "b", "c"].iter().position(|n| *n == old).unwrap();
    let other = (paused + 1) % 3;
    let signal = |sig: &str| assert!(std::process::Command::new("kill").args([sig, &nodes[paused].pid().to_string()]).status().unwrap().success());
    signal("-STOP");
    assert!(
        eventually(Duration::from_secs(LEASE_TTL_S + 10), || scheduler(&nodes[other]).is_some_and(|s| s != old)),
        "no new scheduler: {:?}",
        node_states(&nodes[other])
    );
    let new_term = scheduler_term(&etcd);
    assert!(new_term > old_term);
    // An order under the old term is refused by every agent.
    let order = json!({"fence": {"lease": "scheduler", "term": old_term}, "service": name, "revision": 1, "incarnation": 1,
                       "spec": get(&nodes[other], &name)["spec"]});
    let resp =
        nodes[other].http().post(format!("{}/internal/v1/copies", nodes[other].url)).header("x-skiff-cluster-secret", SECRET).json(&order).send().unwrap();
    assert_eq!(resp.status(), 409, "{}", resp.text().unwrap());
    // Meanwhile the service changes under the new scheduler.
    let scaled = nodes[other].http().post(format!("{}/v1/services/{name}/scale", nodes[other].url)).json(&json!({"count": 3})).send().unwrap();
    assert!(scaled.status().is_success());
    assert!(eventually(Duration::from_secs(30), || {
        let per_node = healthy_per_node(&nodes[other], &name);
        total(&per_node) == 3 && !per_node.contains_key(&old)
    }));
    signal("-CONT");
    // The old scheduler wakes, finds its term over, and what it ran is swept: three copies,
    // and stays three.
    let all: Vec<&Server> = nodes.iter().collect();
    assert!(
        eventually(Duration::from_secs(LEASE_TTL_S + 15), || containers_per_node(&all, &name).iter().sum::<usize>() == 3),
        "{:?}",
        containers_per_node(&all, &name)
    );
    for _ in 0..10 {
        assert_eq!(containers_per_node(&all, &name).iter().sum::<usize>(), 3, "a slot got two copies");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(get(&nodes[paused], &name)["desired_count"], 3, "the old scheduler wrote nothing back");
}

#[test]
fn one_off_tasks_are_placed_by_constraint_and_a_lost_nodes_task_stops_as_node_lost() {
    let etcd = Etcd::start();
    let root = tempfile::tempdir().unwrap();
    let mut nodes = start_zoned(&etcd, root.path(), &[]);
    let family = common::queues::unique("job");
    let definition = json!({"family": family, "memory": "64",
                            "containerDefinitions": [{"name": "main", "image": IMAGE, "command": ["sleep", "600000"]}]});
    // Aim the task at a zone without the scheduler, so its node's loss is seen by the scheduler.
    let boss = scheduler(&nodes[0]).expect("a scheduler");
    let zone = if boss == "a" { "y" } else { "x" };
    let body = json!({"task_definition": definition, "placement": {"constraints": [format!("member-of attribute:zone == {zone}")]}});
    let resp = nodes[1].http().post(format!("{}/v1/tasks", nodes[1].url)).json(&body).send().unwrap();
    assert!(resp.status().is_success(), "{}", resp.text().unwrap());
    let id = resp.json::<Value>().unwrap()["tasks"][0]["taskId"].as_str().unwrap().to_string();
    // Its node is killed and never returns, so nothing of Skiff's removes its container.
    let _sweep = common::RemoveOnDrop("skiff.task", id.clone());
    let task = |n: &Server| n.get(&format!("/v1/tasks/{id}")).json::<Value>().unwrap();
    let survivor = ["a", "b", "c"].iter().position(|n| *n == boss).unwrap();
    assert!(eventually(Duration::from_secs(20), || task(&nodes[survivor])["lastStatus"] == "RUNNING"), "{}", task(&nodes[survivor]));
    let ran_on = task(&nodes[survivor])["node"].as_str().unwrap().to_string();
    assert_ne!(ran_on, boss);
    let index = ["a", "b", "c"].iter().position(|n| *n == ran_on).unwrap();
    assert_eq!(nodes[index].containers(&[("skiff.task", id.as_str())]).len(), 1, "it runs on its node's engine");
    let boss_node = nodes.remove(survivor.max(index));
    let other = nodes.remove(survivor.min(index));
    let (boss_node, victim) = if survivor > index { (boss_node, other) } else { (other, boss_node) };
    victim.kill9();
    let killed = Instant::now();
    assert!(eventually(Duration::from_secs(LEASE_TTL_S + 10), || task(&boss_node)["stopCode"] == "NodeLost"), "{}", task(&boss_node));
    let lost_after = killed.elapsed();
    eprintln!("a task on a killed node was recorded NodeLost after {lost_after:?}");
    assert!(lost_after >= Duration::from_secs(1), "recorded lost before the lease could expire");
    assert_eq!(task(&nodes[0])["lastStatus"], "STOPPED");
    let nodes = [boss_node, nodes.remove(0)];
    // A task that fits nowhere fails to start and says why.
    let body = json!({"task_definition": definition, "placement": {"constraints": ["member-of attribute:zone == z"]}});
    let resp = nodes[0].http().post(format!("{}/v1/tasks", nodes[0].url)).json(&body).send().unwrap();
    let id = resp.json::<Value>().unwrap()["tasks"][0]["taskId"].as_str().unwrap().to_string();
    let t = |n: &Server| n.get(&format!("/v1/tasks/{id}")).json::<Value>().unwrap();
    assert!(eventually(Duration::from_secs(10), || t(&nodes[1])["stopCode"] == "TaskFailedToStart"), "{}", t(&nodes[1]));
    assert!(t(&nodes[1])["stoppedReason"].as_str().unwrap().contains("member-of attribute:zone == z"));
}

#[test]
fn target_tracking_counts_svc_requests_arriving_at_every_node() {
    let etcd = Etcd::start();
    let root = tempfile::tempdir().unwrap();
    let nodes = start_zoned(&etcd, root.path(), &[]);
    let name = common::queues::unique("scaled");
    let mut body = service(1, json!({}));
    body["autoscaling"] = json!({"min": 1, "max": 3, "target_in_flight": 1, "scale_out_cooldown_s": 0, "scale_in_cooldown_s": 600});
    deploy(&nodes[0], &name, &body);
    assert!(eventually(Duration::from_secs(30), || total(&healthy_per_node(&nodes[0], &name)) == 1));
    // Load arrives only at a node that does not schedule: the scheduler's own proxy sees none.
    let boss = scheduler(&nodes[0]).unwrap();
    let entry = nodes.iter().zip(["a", "b", "c"]).find(|(_, n)| *n != boss).unwrap().0;
    let url = format!("{}/svc/{name}/sleep?ms=1500", entry.url);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load: Vec<_> = (0..3)
        .map(|_| {
            let (url, stop) = (url.clone(), stop.clone());
            std::thread::spawn(move || {
                let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
                let deadline = Instant::now() + Duration::from_secs(30);
                while !stop.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < deadline {
                    let _ = client.get(&url).send();
                }
            })
        })
        .collect();
    let scaled = eventually(Duration::from_secs(25), || get(&nodes[0], &name)["desired_count"].as_u64().unwrap_or(0) > 1);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in load {
        t.join().unwrap();
    }
    assert!(scaled, "not scaled out on load at a node that does not schedule: {}", get(&nodes[0], &name));
}
