//! Cluster: a sync invoke and a function URL call forwarded from the node they arrived at to the
//! function's home node, against the same call made at the home node, in the same run; and how
//! long a node's functions are out of service after it is killed (`kill -9`) or frozen
//! (`SIGSTOP`, which only its lease expiry reveals).

use crate::etcd::{node, Etcd, LEASE_TTL_S};
use crate::load::{self, ms};
use crate::server::Skiff;
use anyhow::bail;
use std::process::Command;
use std::time::{Duration, Instant};

/// The function URL rows' request body.
static KIB: [u8; 1024] = [b'x'; 1024];

/// The node that executed a call of `function` made at `skiff`.
async fn executed_on(skiff: &Skiff, function: &str) -> anyhow::Result<String> {
    let url = format!("http://{}/2015-03-31/functions/{function}/invocations", skiff.addr());
    let resp = skiff.http.post(&url).body("{}").send().await?;
    Ok(resp.headers().get("x-skiff-node").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string())
}

/// Deploys no-op functions at `home` until one has `home` as its home node (the deploying node
/// is warm, so only then does every call made at `other` go to `home`); returns its name.
async fn homed_at(home: &Skiff, home_name: &str, other: &Skiff) -> anyhow::Result<String> {
    for i in 0..32 {
        let name = format!("noop-{i}");
        home.deploy_with(&name, "noop", serde_json::json!({})).await?;
        if executed_on(other, &name).await? == home_name {
            return Ok(name);
        }
    }
    bail!("no function name had {home_name} as its home")
}

pub async fn run(phase: Duration) -> anyhow::Result<()> {
    let etcd = Etcd::start()?;
    let nodes = [node(&etcd, "a")?, node(&etcd, "b")?];
    tokio::time::sleep(Duration::from_millis(500)).await; // both see each other
    let (home, other) = (&nodes[0], &nodes[1]);
    let function = homed_at(home, "a", other).await?;
    let invoke = format!("/2015-03-31/functions/{function}/invocations");
    let url = format!("/fn/{function}/");
    println!("## Cluster: forwarded vs local calls of a no-op Wasm function ({}s per phase)\n", phase.as_secs());
    println!("Lambda Invoke with `{{}}`; function URL: `POST` with a 1 KiB body, which streams through the forwarding node.\n");
    println!("| call | connections | call made at | req/s | p50 | p99 | errors |");
    println!("|---|---|---|---|---|---|---|");
    for (call, path, body) in [("Invoke", invoke.as_str(), &b"{}"[..]), ("function URL", url.as_str(), &KIB[..])] {
        for connections in [1, 32] {
            load::run(&home.addr(), path, body, connections, Duration::from_millis(500)).await?;
            load::run(&other.addr(), path, body, connections, Duration::from_millis(500)).await?;
            let local = load::run(&home.addr(), path, body, connections, phase).await?;
            let forwarded = load::run(&other.addr(), path, body, connections, phase).await?;
            for (name, r) in [("home node (local)", &local), ("other node (forwarded)", &forwarded)] {
                println!("| {call} | {connections} | {name} | {:.0} | {} | {} | {} |", r.rps(), ms(r.percentile(0.5)), ms(r.percentile(0.99)), r.errors);
            }
            let added = forwarded.percentile(0.5).saturating_sub(local.percentile(0.5));
            println!("| {call} | {connections} | **forwarding adds** | {:.2}x | **+{}** | | |", forwarded.rps() / local.rps(), ms(added));
        }
    }
    println!();
    drop(nodes);
    outage("kill -9", "-KILL", &etcd).await?;
    outage("SIGSTOP", "-STOP", &etcd).await
}

/// Kills or freezes a function's home node and times, from then, until calls made at another
/// node succeed again (each call given 100 ms).
async fn outage(what: &str, signal: &str, etcd: &Etcd) -> anyhow::Result<()> {
    let home_name = format!("x-{}", signal.trim_start_matches('-').to_lowercase());
    let nodes = [node(etcd, &home_name)?, node(etcd, &format!("y-{home_name}"))?];
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (home, other) = (&nodes[0], &nodes[1]);
    let function = homed_at(home, &home_name, other).await?;
    let url = format!("http://{}/2015-03-31/functions/{function}/invocations", other.addr());
    let client = reqwest::Client::builder().timeout(Duration::from_millis(100)).build()?;
    let started = Instant::now();
    if !Command::new("kill").arg(signal).arg(home.pid().to_string()).status()?.success() {
        bail!("kill {signal} failed");
    }
    let mut failed = 0;
    let served = loop {
        match client.post(&url).body("{}").send().await {
            Ok(r) if r.status().is_success() => break started.elapsed(),
            _ => failed += 1,
        }
        if started.elapsed() > Duration::from_secs(LEASE_TTL_S * 4) {
            bail!("{what}: calls did not recover");
        }
    };
    println!(
        "{what} of the home node: calls served by the other node after {} ({failed} calls failed meanwhile; lease TTL {LEASE_TTL_S} s, target <= TTL + 1 s)",
        ms(served)
    );
    let _ = Command::new("kill").arg("-CONT").arg(home.pid().to_string()).status();
    Ok(())
}
