//! `wasi:http` components: Skiff's function URL (`/fn/NAME/`) against `wasmtime serve` on the
//! same component files, in the same run: a no-op component (WAT) and the Python hello
//! (componentize-py), 1 and 32 connections. Then the Python one with instance reuse against
//! Skiff's own fresh instance per call.

use crate::load::{self, ms, LoadResult};
use crate::server::Skiff;
use crate::wasmtime_serve::{self, WasmtimeServe};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;

const CONNECTIONS: [usize; 2] = [1, 32];

fn component(example: &str) -> anyhow::Result<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../functions").join(example).join("build/hello.wasm");
    anyhow::ensure!(path.exists(), "{} is missing: run scripts/build-functions.sh", path.display());
    Ok(path)
}

async fn load(addr: &str, path: &str, connections: usize, phase: Duration) -> anyhow::Result<LoadResult> {
    let result = load::run_method(hyper::Method::GET, addr, path, b"", connections, phase).await?;
    anyhow::ensure!(result.errors == 0, "{} of {} requests to {addr}{path} failed", result.errors, result.requests);
    Ok(result)
}

pub async fn run(phase: Duration) -> anyhow::Result<()> {
    let cli = wasmtime_serve::cli()?;
    let skiff = Skiff::start()?;
    println!("## wasi:http components: Skiff `/fn` vs `wasmtime serve` on the same file ({}s per phase)\n", phase.as_secs());
    println!("| component | connections | wasmtime serve req/s | Skiff req/s | **Skiff ÷ wasmtime req/s** | wasmtime serve p50 | Skiff p50 | **Skiff ÷ wasmtime p50** |");
    println!("|---|---|---|---|---|---|---|---|");
    let mut fresh = Vec::new();
    for (example, name) in [("noop-http", "noop"), ("hello-http-py", "hello-py")] {
        let code = component(example)?;
        skiff.deploy_code(name, &std::fs::read(&code)?, json!({ "memory_mb": 256, "timeout_s": 30 })).await?;
        let serve = WasmtimeServe::start(&cli, &code)?;
        let path = format!("/fn/{name}/");
        for connections in CONNECTIONS {
            // Warm both (first calls, connection set-up) before measuring.
            load(&serve.addr, "/", connections, Duration::from_millis(500)).await?;
            load(&skiff.addr(), &path, connections, Duration::from_millis(500)).await?;
            let theirs = load(&serve.addr, "/", connections, phase).await?;
            let ours = load(&skiff.addr(), &path, connections, phase).await?;
            let (t50, o50) = (theirs.percentile(0.5), ours.percentile(0.5));
            println!(
                "| {example} | {connections} | {:.0} | {:.0} | **{:.2}x** | {} | {} | **{:.2}x** |",
                theirs.rps(),
                ours.rps(),
                ours.rps() / theirs.rps(),
                ms(t50),
                ms(o50),
                o50.as_secs_f64() / t50.as_secs_f64()
            );
            if example == "hello-http-py" {
                fresh.push((connections, ours));
            }
        }
    }
    let code = component("hello-http-py")?;
    skiff.deploy_code("hello-py-warm", &std::fs::read(&code)?, json!({ "memory_mb": 256, "timeout_s": 30, "reuse": {} })).await?;
    println!("\n## Instance reuse on the Python component: Skiff with `reuse` vs Skiff with a fresh instance per call\n");
    println!("| connections | fresh req/s | reuse req/s | **reuse ÷ fresh req/s** | fresh p50 | reuse p50 |");
    println!("|---|---|---|---|---|---|");
    for (connections, fresh) in fresh {
        load(&skiff.addr(), "/fn/hello-py-warm/", connections, Duration::from_millis(500)).await?;
        let warm = load(&skiff.addr(), "/fn/hello-py-warm/", connections, phase).await?;
        println!(
            "| {connections} | {:.0} | {:.0} | **{:.1}x** | {} | {} |",
            fresh.rps(),
            warm.rps(),
            warm.rps() / fresh.rps(),
            ms(fresh.percentile(0.5)),
            ms(warm.percentile(0.5))
        );
    }
    Ok(())
}
