//! Cluster services: how long a lost node's service copies are out before replacements are
//! healthy elsewhere, for a node that only runs copies and for the scheduler's own node (whose
//! loss also needs a new scheduler to take the lease), against the lease TTL; and whether `/svc`
//! on a surviving node failed any request meanwhile.

use crate::etcd::{node, Etcd, LEASE_TTL_S};
use crate::load::ms;
use crate::server::Skiff;
use anyhow::bail;
use serde_json::{json, Value};
use std::process::Command;
use std::time::{Duration, Instant};

const IMAGE: &str = "skiff-examples/hello-service:latest";
const COPIES: usize = 3;

pub async fn run() -> anyhow::Result<()> {
    let etcd = Etcd::start()?;
    println!("## Cluster services: a lost node's copies replaced (3 nodes, {COPIES} copies spread, lease TTL {LEASE_TTL_S} s)\n");
    println!("| node killed (kill -9) | replacements healthy after | /svc requests failed meanwhile (on a survivor) | target |");
    println!("|---|---|---|---|");
    for victim_is_scheduler in [false, true] {
        let round = if victim_is_scheduler { "s" } else { "w" };
        let nodes: Vec<Skiff> = (0..3).map(|i| node(&etcd, &format!("{round}{i}"))).collect::<anyhow::Result<_>>()?;
        let result = measure(&nodes, round, victim_is_scheduler).await;
        // Copies outlive their nodes' processes: remove the service through a survivor.
        for n in &nodes {
            let _ = n.http.delete(format!("http://{}/v1/services/bench-{round}", n.addr())).timeout(Duration::from_secs(30)).send().await;
        }
        // The killed node's copy has no server left to remove it.
        let left = Command::new("docker").args(["ps", "-aq", "--filter", &format!("label=skiff.service=bench-{round}")]).output()?;
        for id in String::from_utf8_lossy(&left.stdout).split_whitespace() {
            let _ = Command::new("docker").args(["rm", "-f", id]).output();
        }
        let (what, replaced, failed) = result?;
        println!("| {what} | **{}** | {failed} | <= TTL + 5 s = {} s |", ms(replaced), LEASE_TTL_S + 5);
    }
    Ok(())
}

/// Deploys the service at the first node, kills one node, and times until `COPIES` copies are
/// healthy on the survivors.
async fn measure(nodes: &[Skiff], round: &str, victim_is_scheduler: bool) -> anyhow::Result<(&'static str, Duration, u64)> {
    tokio::time::sleep(Duration::from_millis(500)).await;
    let name = format!("bench-{round}");
    let first = &nodes[0];
    let body = json!({"image": IMAGE, "port": 8080, "count": COPIES, "memory_mb": 64, "cpu": 0.1,
                      "health": {"path": "/healthz", "interval_ms": 200, "timeout_ms": 150, "healthy_threshold": 1, "unhealthy_threshold": 2}});
    let put = first.http.put(format!("http://{}/v1/services/{name}", first.addr())).json(&body).send().await?;
    if !put.status().is_success() {
        bail!("deploying: {}", put.text().await?);
    }
    wait_until(first, &name, |copies| copies.len() == COPIES, Duration::from_secs(60)).await?;
    let nodes_list: Value = first.http.get(format!("http://{}/v1/nodes", first.addr())).send().await?.json().await?;
    let scheduler =
        nodes_list["nodes"].as_array().into_iter().flatten().find(|n| n["scheduler"] == true).and_then(|n| n["name"].as_str()).unwrap_or_default().to_string();
    let index = |name: &str| (0..3).find(|i| format!("{round}{i}") == name);
    let victim = match victim_is_scheduler {
        true => index(&scheduler).unwrap_or(0),
        false => (0..3).find(|i| Some(*i) != index(&scheduler)).unwrap_or(1),
    };
    let survivor = &nodes[(victim + 1) % 3];
    let victim_name = format!("{round}{victim}");
    let started = Instant::now();
    if !Command::new("kill").arg("-KILL").arg(nodes[victim].pid().to_string()).status()?.success() {
        bail!("kill -9 failed");
    }
    // Load on a survivor's /svc while the copy is replaced; every request gets 2 s.
    let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
    let url = format!("http://{}/svc/{name}/", survivor.addr());
    let mut failed = 0;
    let replaced = loop {
        if !client.get(&url).send().await.is_ok_and(|r| r.status().is_success()) {
            failed += 1;
        }
        let copies = healthy(survivor, &name).await.unwrap_or_default();
        if copies.len() == COPIES && copies.iter().all(|n| *n != victim_name) {
            break started.elapsed();
        }
        if started.elapsed() > Duration::from_secs(LEASE_TTL_S * 10) {
            bail!("copies were not replaced: {copies:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    Ok((if victim_is_scheduler { "the scheduler's node" } else { "a node running a copy" }, replaced, failed))
}

/// The nodes of the service's healthy copies, as `at` reports them.
async fn healthy(at: &Skiff, name: &str) -> anyhow::Result<Vec<String>> {
    let service: Value = at.http.get(format!("http://{}/v1/services/{name}", at.addr())).send().await?.json().await?;
    Ok(service["copies"].as_array().into_iter().flatten().filter(|c| c["state"] == "healthy").filter_map(|c| c["node"].as_str().map(str::to_string)).collect())
}

async fn wait_until(at: &Skiff, name: &str, done: impl Fn(&[String]) -> bool, limit: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    while !done(&healthy(at, name).await.unwrap_or_default()) {
        if Instant::now() > deadline {
            bail!("service {name} did not become healthy");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}
