//! Container function benchmarks, each against a baseline in the same run:
//! - cold start: Skiff's create + start + runtime ready vs `docker run` of the same image, with
//!   the same sandbox and the same agent, until its runtime asks for its first event;
//! - warm invoke: round trip through the gateway to a warm container vs a bare hyper server
//!   (the HTTP floor), so the difference is Skiff's per-call overhead;
//! - warm throughput with N containers.

use crate::load::{self, ms};
use crate::server::{spawn, Skiff};
use anyhow::{bail, Context};
use serde_json::json;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use tokio::net::UnixListener;

const IMAGE: &str = "skiff-tests/probe:latest";
/// One vCPU, so neither side is slowed by a small CPU share.
const MEMORY_MB: u32 = 1769;
const COLD_RUNS: usize = 10;

pub async fn run(phase: Duration) -> anyhow::Result<()> {
    cold_start().await?;
    warm(phase).await
}

async fn cold_start() -> anyhow::Result<()> {
    let skiff = Skiff::start()?;
    let agent = agent_path()?;
    let mut ours = Vec::new();
    let mut ours_round_trip = Vec::new();
    let mut docker = Vec::new();
    // Warm the engine's caches for the image on both paths first.
    skiff.deploy_image("warmup", IMAGE, json!({ "memory_mb": MEMORY_MB })).await?;
    skiff.invoke("warmup", "{}").await?;
    docker_run_to_ready(&agent).await?;
    for i in 0..COLD_RUNS {
        let name = format!("cold-{i}");
        skiff.deploy_image(&name, IMAGE, json!({ "memory_mb": MEMORY_MB })).await?;
        let t = Instant::now();
        let (status, init) = skiff.invoke(&name, "{}").await?;
        ours_round_trip.push(t.elapsed());
        if status != 200 {
            bail!("cold invoke failed with {status}");
        }
        ours.push(init.context("a cold call reports its init duration")?);
        docker.push(docker_run_to_ready(&agent).await?);
    }
    for v in [&mut ours, &mut ours_round_trip, &mut docker] {
        v.sort();
    }
    let p50 = |v: &[Duration]| v[v.len() / 2];
    println!("## Container cold start: create + start + runtime ready ({COLD_RUNS} runs each, {MEMORY_MB} MB)\n");
    println!("| path | p50 | max |");
    println!("|---|---|---|");
    println!("| `docker run -d` (same image, sandbox and agent) to first `/invocation/next` | {} | {} |", ms(p50(&docker)), ms(*docker.last().unwrap()));
    println!("| Skiff init duration (bollard create + start to first `/invocation/next`) | {} | {} |", ms(p50(&ours)), ms(*ours.last().unwrap()));
    println!("| Skiff first call, whole HTTP round trip (cold start + invoke) | {} | {} |", ms(p50(&ours_round_trip)), ms(*ours_round_trip.last().unwrap()));
    println!("| **ratio** (Skiff init / docker run) | **{:.2}x** | |\n", p50(&ours).as_secs_f64() / p50(&docker).as_secs_f64());
    Ok(())
}

async fn warm(phase: Duration) -> anyhow::Result<()> {
    let hello = spawn(Command::new(std::env::current_exe()?).arg("hello-server"))?;
    let skiff = Skiff::start()?;
    println!("## Warm container invoke through the gateway ({}s per phase)\n", phase.as_secs());
    println!("| containers = connections | target | req/s | p50 | p99 | errors |");
    println!("|---|---|---|---|---|---|");
    for n in [1usize, 2, 4] {
        let name = format!("warm-{n}");
        skiff.deploy_image(&name, IMAGE, json!({ "memory_mb": MEMORY_MB, "concurrency": n, "provisioned": n })).await?;
        let path = format!("/2015-03-31/functions/{name}/invocations");
        // Provisioned containers start in the background; the warm-up also waits for them.
        load::run(&skiff.addr(), &path, br#"{"op":"echo"}"#, n, Duration::from_secs(1)).await?;
        load::run(&hello.addr, "/", b"{}", n, Duration::from_millis(500)).await?;
        let base = load::run(&hello.addr, "/", b"{}", n, phase).await?;
        let ours = load::run(&skiff.addr(), &path, br#"{"op":"echo"}"#, n, phase).await?;
        for (label, r) in [("bare hyper", &base), ("skiff warm container invoke", &ours)] {
            println!("| {n} | {label} | {:.0} | {} | {} | {} |", r.rps(), ms(r.percentile(0.5)), ms(r.percentile(0.99)), r.errors);
        }
        let overhead = ours.percentile(0.5).saturating_sub(base.percentile(0.5));
        println!("| {n} | **Skiff overhead at p50** | | **{}** | | |", ms(overhead));
    }
    println!();
    Ok(())
}

/// `docker run` of the probe with the sandbox Skiff uses, timed from the CLI's start until the
/// runtime's first `/invocation/next` reaches our socket. The container is removed afterwards.
async fn docker_run_to_ready(agent: &std::path::Path) -> anyhow::Result<Duration> {
    let dir = tempfile::Builder::new().prefix("skb").tempdir_in("/tmp")?;
    let socket = dir.path().join("rt.sock");
    let listener = UnixListener::bind(&socket)?;
    std::fs::set_permissions(&socket, std::os::unix::fs::PermissionsExt::from_mode(0o666))?;
    let name = format!("skiff-bench-{}", std::process::id() ^ Instant::now().elapsed().subsec_nanos());
    let memory = format!("{MEMORY_MB}m");
    let started = Instant::now();
    let mut child = tokio::process::Command::new("docker")
        .args(["run", "-d", "--name", &name, "--network", "none", "--memory", &memory, "--memory-swap", &memory])
        .args(["--cpus", "1", "--pids-limit", "1024", "--cap-drop", "ALL", "--security-opt", "no-new-privileges"])
        .args(["--read-only", "--tmpfs", "/tmp:rw,nosuid,nodev,size=512m", "--log-driver", "none"])
        .arg("-v")
        .arg(format!("{}:/opt/skiff/agent:ro", agent.display()))
        .arg("-v")
        .arg(format!("{}:/opt/skiff/runtime.sock", socket.display()))
        .args(["--entrypoint", "/opt/skiff/agent"])
        .args(["-e", "AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001", "-e", "AWS_LAMBDA_FUNCTION_NAME=bench"])
        .args(["-e", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=1769", "-e", "AWS_LAMBDA_FUNCTION_VERSION=1"])
        .args(["-e", "AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/bench", "-e", "AWS_LAMBDA_LOG_STREAM_NAME=bench"])
        .args([IMAGE, "/bootstrap"])
        .stdout(std::process::Stdio::null())
        .spawn()?;
    let ready = tokio::time::timeout(Duration::from_secs(30), async {
        let mut held = Vec::new();
        loop {
            let (mut stream, _) = listener.accept().await?;
            if stream.read_u8().await? == b'L' {
                held.push(stream); // the agent's log connection: keep it open
                continue;
            }
            let mut head = Vec::new();
            while !head.windows(15).any(|w| w == b"invocation/next") {
                let mut buf = [0u8; 256];
                let n = stream.read(&mut buf).await?;
                if n == 0 {
                    bail!("the runtime closed its connection before asking for an event");
                }
                head.extend_from_slice(&buf[..n]);
            }
            return anyhow::Ok(started.elapsed());
        }
    })
    .await;
    child.wait().await?;
    let _ = Command::new("docker").args(["rm", "-f", &name]).output();
    ready.context("docker run: the runtime never became ready")?
}

fn agent_path() -> anyhow::Result<PathBuf> {
    let path = skiff_workers::container::agent_near(&std::env::current_exe()?);
    path.canonicalize().with_context(|| format!("{} not found: run scripts/build-functions.sh", path.display()))
}
