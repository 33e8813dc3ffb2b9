//! What enforcing limits costs: the same guests on two engines, one with epoch interruption and
//! the memory limiter, one with neither, driven in-process through the `Worker` trait.

use crate::load::ms;
use bytes::Bytes;
use skiff_workers::wasm::{EngineOptions, WasmBackend, WasmFunction};
use skiff_workers::{ExecutionSpec, Invocation, Outcome, Worker};
use std::time::{Duration, Instant};

fn function(enforce: bool, cache: &std::path::Path, fixture: &str) -> anyhow::Result<WasmFunction> {
    let backend = WasmBackend::new(EngineOptions {
        enforce_limits: enforce,
        max_instances: 64,
        cache_dir: cache.join(if enforce { "on" } else { "off" }),
        compiler: skiff_workers::wasm::Compiler::InProcess,
    })?;
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../functions/fixtures").join(format!("{fixture}.wat"));
    let code = std::fs::read(path)?;
    let compiled = backend.compile(fixture, &code)?;
    let spec =
        ExecutionSpec { function: fixture.into(), version: "$LATEST".into(), memory_mb: 128, timeout: Duration::from_secs(60), env: vec![], reuse: None };
    Ok(backend.prepare(spec, &compiled)?)
}

async fn call(f: &WasmFunction, payload: &'static [u8]) -> anyhow::Result<()> {
    let exec = f.invoke(Invocation { request_id: "bench".into(), payload: Bytes::from_static(payload) }).await?;
    match exec.outcome {
        Outcome::Success(_) => Ok(()),
        Outcome::Error(e) => anyhow::bail!("{}: {}", e.error_type.as_str(), e.message),
    }
}

/// Invocations per second, one at a time, for `phase`.
async fn rate(f: &WasmFunction, phase: Duration) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < phase {
        call(f, b"{}").await?;
        n += 1;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

/// Median time of `runs` CPU-bound invocations.
async fn compute(f: &WasmFunction, runs: usize) -> anyhow::Result<Duration> {
    let mut times = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        call(f, b"20000000").await?;
        times.push(t.elapsed());
    }
    times.sort();
    Ok(times[runs / 2])
}

pub async fn run(phase: Duration) -> anyhow::Result<()> {
    let cache = tempfile::tempdir()?;
    let noop_on = function(true, cache.path(), "noop")?;
    let noop_off = function(false, cache.path(), "noop")?;
    let loop_on = function(true, cache.path(), "loop")?;
    let loop_off = function(false, cache.path(), "loop")?;
    rate(&noop_on, Duration::from_millis(300)).await?;
    rate(&noop_off, Duration::from_millis(300)).await?;
    // Alternate phases so drift on a shared machine hits both sides alike.
    let (mut on, mut off) = (0.0, 0.0);
    for _ in 0..2 {
        off += rate(&noop_off, phase / 2).await?;
        on += rate(&noop_on, phase / 2).await?;
    }
    let (c_off, c_on) = (compute(&loop_off, 15).await?, compute(&loop_on, 15).await?);
    println!("## Cost of limits: epoch interruption + memory limiter, on vs off (in-process worker)\n");
    println!("| workload | limits off | limits on | overhead |");
    println!("|---|---|---|---|");
    println!("| no-op invoke rate, sequential | {:.0}/s | {:.0}/s | {:+.1}% |", off / 2.0, on / 2.0, (off / on - 1.0) * 100.0);
    println!("| 20M-iteration loop, median of 15 | {} | {} | {:+.1}% |", ms(c_off), ms(c_on), (c_on.as_secs_f64() / c_off.as_secs_f64() - 1.0) * 100.0);
    println!();
    Ok(())
}
