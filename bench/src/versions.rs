//! Versions and aliases on the invoke path: a no-op Wasm function called unqualified (the
//! baseline), as a published version (`noop:1`) and through a weighted alias (`noop:live`, half
//! its calls to version 2), interleaved in the same run. The alias is resolved and its version
//! drawn on every call, so this is what that costs.

use crate::load::{self, ms};
use crate::server::Skiff;
use anyhow::bail;
use serde_json::json;
use std::time::Duration;

pub async fn run(phase: Duration) -> anyhow::Result<()> {
    let skiff = Skiff::start()?;
    skiff.deploy_with("noop", "noop", json!({})).await?;
    let lambda = |path: &str| format!("http://{}/2015-03-31/functions/noop/{path}", skiff.addr());
    publish(&skiff, &lambda("versions")).await?;
    skiff.deploy_with("noop", "noop", json!({ "env": { "ROUND": "2" } })).await?;
    publish(&skiff, &lambda("versions")).await?;
    let alias = json!({ "Name": "live", "FunctionVersion": "1", "RoutingConfig": { "AdditionalVersionWeights": { "2": 0.5 } } });
    let resp = skiff.http.post(lambda("aliases")).json(&alias).send().await?;
    if !resp.status().is_success() {
        bail!("alias: {}", resp.text().await?);
    }
    let targets = [("unqualified ($LATEST)", "noop"), ("a version (noop:1)", "noop:1"), ("a weighted alias (noop:live)", "noop:live")];
    println!("## Invoking a version or an alias vs unqualified ({}s per phase, interleaved)\n", phase.as_secs());
    println!("| connections | target | req/s | p50 | p99 | req/s vs unqualified | errors |");
    println!("|---|---|---|---|---|---|---|");
    for connections in [1, 32] {
        for (_, function) in targets {
            load::run(&skiff.addr(), &invoke_path(function), b"{}", connections, Duration::from_millis(500)).await?;
        }
        let mut baseline = None;
        for (name, function) in targets {
            let r = load::run(&skiff.addr(), &invoke_path(function), b"{}", connections, phase).await?;
            let base = *baseline.get_or_insert(r.rps());
            println!(
                "| {connections} | {name} | {:.0} | {} | {} | {:.2}x | {} |",
                r.rps(),
                ms(r.percentile(0.5)),
                ms(r.percentile(0.99)),
                r.rps() / base,
                r.errors
            );
        }
    }
    println!();
    Ok(())
}

fn invoke_path(function: &str) -> String {
    format!("/2015-03-31/functions/{function}/invocations")
}

async fn publish(skiff: &Skiff, url: &str) -> anyhow::Result<()> {
    let resp = skiff.http.post(url).json(&json!({})).send().await?;
    if !resp.status().is_success() {
        bail!("publish: {}", resp.text().await?);
    }
    Ok(())
}
