//! Idle memory per deployed Wasm function (the brief's ≤ 1 MiB RSS): the server's resident set
//! before any function, after deploying many distinct ones, and after one call of each. The
//! baseline is the same server with none deployed; the difference divided by the count is the
//! cost of one function.
//!
//! Each function's bytes are its own (a data segment or a custom section naming it), so none
//! shares stored code or a compiled artifact with another: identical uploads are stored once and
//! would flatter the number.

use crate::server::Skiff;
use serde_json::json;
use std::path::Path;
use std::time::Duration;

/// How many functions are deployed: enough that what the server holds for all functions
/// together (the engine, the instance pool's warm slots) is small beside what they hold each.
const FUNCTIONS: usize = 200;

/// What the brief allows each idle function.
const TARGET_BYTES: f64 = 1024.0 * 1024.0;

pub async fn run() -> anyhow::Result<()> {
    println!("## Idle memory per deployed Wasm function ({FUNCTIONS} distinct functions per row, each kind on its own server)\n");
    println!("| function | state | server RSS | per function over the empty server | **÷ the 1 MiB target** |");
    println!("|---|---|---|---|---|");
    let noop = |i: usize| format!(r#"(module (memory (export "memory") 1) (data (i32.const 0) "function {i}") (func (export "_start")))"#).into_bytes();
    measure("no-op (WAT)", noop).await?;
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../functions/hello-c/build/hello.wasm");
    match std::fs::read(&path) {
        Ok(hello_c) => measure(&format!("hello-c ({} KB)", hello_c.len() / 1000), |i| with_custom_section(&hello_c, i)).await?,
        Err(e) => println!("| hello-c | skipped: {} ({e}; scripts/build-functions.sh builds it) | | | |", path.display()),
    }
    println!();
    Ok(())
}

/// One row group: a fresh server, then `FUNCTIONS` functions whose code `code(i)` gives.
async fn measure(what: &str, code: impl Fn(usize) -> Vec<u8>) -> anyhow::Result<()> {
    let skiff = Skiff::start()?;
    // The first deploy and call set up what every function shares (the compiler child, the
    // instance pool); measuring from after them counts only what each function adds.
    skiff.deploy_code("warmup", &code(usize::MAX), json!({})).await?;
    skiff.invoke("warmup", "{}").await?;
    let empty = settled_rss(skiff.pid()).await?;
    for i in 0..FUNCTIONS {
        skiff.deploy_code(&name(i), &code(i), json!({})).await?;
    }
    let deployed = settled_rss(skiff.pid()).await?;
    for i in 0..FUNCTIONS {
        let (status, _) = skiff.invoke(&name(i), "{}").await?;
        anyhow::ensure!(status == 200, "calling {} answered {status}", name(i));
    }
    let called = settled_rss(skiff.pid()).await?;
    println!("| {what} | none deployed (baseline) | {} | | |", mib(empty as f64));
    for (state, rss) in [("deployed, never called", deployed), ("each called once, then idle", called)] {
        let each = rss.saturating_sub(empty) as f64 / FUNCTIONS as f64;
        println!("| {what} | {state} | {} | {:.0} KiB | **{:.2}x** |", mib(rss as f64), each / 1024.0, each / TARGET_BYTES);
    }
    Ok(())
}

fn name(i: usize) -> String {
    format!("idle-{i}")
}

/// `wasm` with a custom section naming `i` appended: the same program, but bytes (and so
/// stored code and compiled artifact) of its own.
fn with_custom_section(wasm: &[u8], i: usize) -> Vec<u8> {
    let (name, payload) = (b"skiff-bench", i.to_le_bytes());
    let size = 1 + name.len() + payload.len();
    let mut out = wasm.to_vec();
    // Section id 0 (custom), its size, the name's length and the name (all sizes < 128 here,
    // so each LEB128 is one byte), then the payload.
    out.extend_from_slice(&[0, size as u8, name.len() as u8]);
    out.extend_from_slice(name);
    out.extend_from_slice(&payload);
    out
}

/// The server's resident set once it has stopped moving: background work after the last
/// request (an artifact written, a record flushed) is given a moment to finish.
async fn settled_rss(pid: u32) -> anyhow::Result<u64> {
    let mut last = rss(pid)?;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = rss(pid)?;
        if now == last {
            return Ok(now);
        }
        last = now;
    }
    Ok(last)
}

/// `VmRSS` of `pid`, in bytes.
fn rss(pid: u32) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).map_err(|e| anyhow::anyhow!("reading {path}: {e}"))?;
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .ok_or_else(|| anyhow::anyhow!("no VmRSS in {path}"))?;
    Ok(kib * 1024)
}

fn mib(bytes: f64) -> String {
    format!("{:.1} MiB", bytes / (1024.0 * 1024.0))
}
