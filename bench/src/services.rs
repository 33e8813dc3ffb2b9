//! The service proxy: `/svc/NAME/` through the gateway against nginx as a reverse proxy in front
//! of the same copy (upstream keep-alive, see `nginx.rs`), with the copy hit directly at its
//! address on the services network for reference, in the same run, interleaved. nginx and `/svc`
//! take turns going first (round 1 nginx first, round 2 `/svc` first, ...), so neither always
//! runs on a machine the other has just warmed or left busy. The copy is the
//! example `hello-service` (a small threaded HTTP/1.1 server) with 2 vCPUs, so neither side is
//! capped by the copy's CPU quota.

use crate::cpu;
use crate::load::{self, ms, LoadResult};
use crate::nginx::Nginx;
use crate::server::Skiff;
use anyhow::{bail, Context};
use hyper::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const IMAGE: &str = "skiff-examples/hello-service:latest";
/// An even number, so each proxy goes first as often as the other.
const ROUNDS: usize = 4;

pub async fn run(phase: Duration, only: Option<&str>) -> anyhow::Result<()> {
    let skiff = Skiff::start()?;
    let name = "bench";
    let base = format!("http://{}/v1/services/{name}", skiff.addr());
    let definition = json!({
        "image": IMAGE, "port": 8080, "count": 1, "memory_mb": 128, "cpu": 2.0,
        "health": { "path": "/healthz", "interval_ms": 500, "timeout_ms": 400, "healthy_threshold": 1 },
    });
    let resp = skiff.http.put(&base).json(&definition).send().await?;
    if !resp.status().is_success() {
        bail!("deploying the service: {}", resp.text().await?);
    }
    let result = measure(&skiff, &base, name, phase, only).await;
    // The server keeps service copies across its own restarts; a benchmark leaves none behind.
    skiff.http.delete(&base).send().await?;
    result
}

async fn measure(skiff: &Skiff, base: &str, name: &str, phase: Duration, only: Option<&str>) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let direct = loop {
        let endpoints: Value = skiff.http.get(format!("{base}/endpoints")).send().await?.json().await?;
        if let Some(e) = endpoints["endpoints"].as_array().into_iter().flatten().find(|e| e["state"] == "healthy") {
            break e["address"].as_str().context("address")?.to_string();
        }
        if Instant::now() > deadline {
            bail!("the service copy did not become healthy: {endpoints}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let proxy = skiff.addr();
    let nginx = Nginx::start(&direct)?;
    println!("## Service proxy vs nginx in front of the same copy ({}s per phase, {ROUNDS} interleaved rounds)\n", phase.as_secs());
    println!("| handler | connections | round | direct req/s | nginx req/s | /svc req/s | **/svc ÷ nginx req/s** | direct p50 | nginx p50 | /svc p50 | **/svc ÷ nginx p50** | nginx p99 | /svc p99 | CPU µs/request: direct / nginx / /svc |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    // A handler that does nothing shows the proxy's whole cost; one that waits 1 ms (a typical
    // downstream call) shows what a service sees.
    for (handler, path) in [("no-op", "/"), ("1ms", "/sleep?ms=1")] {
        if only.is_some_and(|h| h != handler) {
            continue;
        }
        let proxied = format!("/svc/{name}{path}");
        for connections in [1, 32] {
            // Each phase also reports the machine's busy CPU per request (all processes and the
            // kernel): steadier than throughput on a VM whose host takes time away.
            let get = |addr: String, path: String, d: Duration| async move {
                let before = cpu::machine().0;
                let result = load::run_method(Method::GET, &addr, &path, b"", connections, d).await?;
                let per_request = (cpu::machine().0 - before) * 1e6 / result.requests.max(1) as f64;
                anyhow::Ok((result, per_request))
            };
            let warm = Duration::from_millis(500);
            get(direct.clone(), path.into(), warm).await?;
            get(proxy.clone(), proxied.clone(), warm).await?;
            get(nginx.addr.clone(), path.into(), warm).await?;
            let mut ratios = Vec::new();
            for round in 1..=ROUNDS {
                let (d, d_cpu) = get(direct.clone(), path.into(), phase).await?;
                let nginx_phase = || get(nginx.addr.clone(), path.into(), phase);
                let proxy_phase = || get(proxy.clone(), proxied.clone(), phase);
                let ((n, n_cpu), (p, p_cpu)) = if round % 2 == 1 {
                    let n = nginx_phase().await?;
                    (n, proxy_phase().await?)
                } else {
                    let p = proxy_phase().await?;
                    (nginx_phase().await?, p)
                };
                check(&d, "direct")?;
                check(&n, "nginx")?;
                check(&p, "proxy")?;
                let (t, l) = (p.rps() / n.rps(), p.percentile(0.5).as_secs_f64() / n.percentile(0.5).as_secs_f64());
                println!(
                    "| {handler} | {connections} | {round} | {:.0} | {:.0} | {:.0} | {t:.2}x | {} | {} | {} | {l:.2}x | {} | {} | {d_cpu:.0} / {n_cpu:.0} / {p_cpu:.0} |",
                    d.rps(),
                    n.rps(),
                    p.rps(),
                    ms(d.percentile(0.5)),
                    ms(n.percentile(0.5)),
                    ms(p.percentile(0.5)),
                    ms(n.percentile(0.99)),
                    ms(p.percentile(0.99)),
                );
                ratios.push((t, l));
            }
            // With an even number of rounds, the mean of the two middle ratios.
            let median = |mut v: Vec<f64>| {
                v.sort_by(f64::total_cmp);
                (v[(v.len() - 1) / 2] + v[v.len() / 2]) / 2.0
            };
            println!(
                "| {handler} | {connections} | **median** | | | | **{:.2}x** (target >= 1.0) | | | | **{:.2}x** (target <= 1.0) | | | |",
                median(ratios.iter().map(|r| r.0).collect()),
                median(ratios.iter().map(|r| r.1).collect())
            );
        }
    }
    Ok(())
}

fn check(r: &LoadResult, what: &str) -> anyhow::Result<()> {
    if r.errors > 0 {
        bail!("{what}: {} of {} requests failed", r.errors, r.requests);
    }
    Ok(())
}
