//! Benchmarks through the real gateway: the `skiff` release binary as a child process.

use crate::load::{self, ms};
use anyhow::{bail, Context};
use base64::Engine as _;
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process that printed `... listening on http://ADDR` as its first line.
pub(crate) struct Spawned {
    child: Child,
    pub(crate) addr: String,
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn spawn(cmd: &mut Command) -> anyhow::Result<Spawned> {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().context("spawning")?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line)?;
    let Some((_, addr)) = line.trim().split_once("listening on http://") else {
        bail!("unexpected first line {line:?}");
    };
    Ok(Spawned { addr: addr.to_string(), child })
}

/// Waits until something accepts connections on `addr`; `what` names it in the error.
pub(crate) fn wait_listening(what: &str, addr: &str, limit: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    while std::net::TcpStream::connect(addr).is_err() {
        if Instant::now() > deadline {
            bail!("{what} did not listen on {addr}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

fn sibling(name: &str) -> anyhow::Result<PathBuf> {
    let path = std::env::current_exe()?.with_file_name(name);
    if !path.exists() {
        bail!("{} not found: run `cargo build --release` first", path.display());
    }
    Ok(path)
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../functions/fixtures").join(format!("{name}.wat"))
}

pub(crate) struct Skiff {
    proc: Spawned,
    /// The data dir, when this server owns it (`start_in` servers share the caller's).
    _data: Option<tempfile::TempDir>,
    pub(crate) http: reqwest::Client,
}

impl Skiff {
    pub(crate) fn start() -> anyhow::Result<Self> {
        Self::start_with(&[])
    }

    pub(crate) fn start_with(extra: &[&str]) -> anyhow::Result<Self> {
        let data = tempfile::tempdir()?;
        let mut skiff = Self::launch(data.path(), extra)?;
        skiff._data = Some(data);
        Ok(skiff)
    }

    /// A server on `data`, which outlives it: the next one started there finds its functions.
    pub(crate) fn start_in(data: &Path) -> anyhow::Result<Self> {
        Self::launch(data, &[])
    }

    fn launch(data: &Path, extra: &[&str]) -> anyhow::Result<Self> {
        let proc = spawn(
            Command::new(sibling("skiff")?)
                .args(["server", "--listen", "127.0.0.1:0", "--max-concurrency", "512", "--data-dir"])
                .arg(data)
                .args(extra)
                // The async bench's callbacks go to a receiver on loopback.
                .env("SKIFF_CALLBACK_ALLOW", "127.0.0.1")
                .env("SKIFF_LOG", "warn"),
        )?;
        Ok(Self { proc, _data: None, http: reqwest::Client::new() })
    }

    async fn deploy(&self, name: &str, fixture_name: &str) -> anyhow::Result<()> {
        self.deploy_with(name, fixture_name, json!({})).await
    }

    pub(crate) async fn deploy_with(&self, name: &str, fixture_name: &str, settings: serde_json::Value) -> anyhow::Result<()> {
        self.deploy_code(name, &std::fs::read(fixture(fixture_name))?, settings).await
    }

    /// Deploys Wasm (binary or WAT) as `name`.
    pub(crate) async fn deploy_code(&self, name: &str, code: &[u8], settings: serde_json::Value) -> anyhow::Result<()> {
        let mut body = settings;
        body["wasm_base64"] = base64::engine::general_purpose::STANDARD.encode(code).into();
        let resp = self.http.put(format!("http://{}/v1/functions/{name}", self.proc.addr)).json(&body).send().await?;
        if !resp.status().is_success() {
            bail!("deploy failed: {}", resp.text().await?);
        }
        Ok(())
    }

    pub(crate) fn addr(&self) -> String {
        self.proc.addr.clone()
    }

    pub(crate) fn pid(&self) -> u32 {
        self.proc.child.id()
    }

    pub(crate) async fn deploy_image(&self, name: &str, image: &str, settings: serde_json::Value) -> anyhow::Result<()> {
        let mut body = settings;
        body["image"] = image.into();
        let resp = self.http.put(format!("http://{}/v1/functions/{name}", self.proc.addr)).json(&body).send().await?;
        if !resp.status().is_success() {
            bail!("deploy failed: {}", resp.text().await?);
        }
        Ok(())
    }

    /// Invokes once; returns the status and the init duration the server reported, if cold.
    pub(crate) async fn invoke(&self, name: &str, body: &'static str) -> anyhow::Result<(u16, Option<Duration>)> {
        let url = format!("http://{}/2015-03-31/functions/{name}/invocations", self.proc.addr);
        let resp = self.http.post(&url).body(body).send().await?;
        let status = resp.status().as_u16();
        let init =
            resp.headers().get("x-skiff-init-duration-ms").and_then(|v| v.to_str().ok()?.parse::<f64>().ok()).map(|ms| Duration::from_secs_f64(ms / 1000.0));
        resp.bytes().await?;
        Ok((status, init))
    }
}

impl Drop for Skiff {
    /// A graceful stop, so the server removes its containers.
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.proc.child.id().to_string()).status();
        for _ in 0..150 {
            if matches!(self.proc.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

pub async fn invoke_throughput(phase: Duration) -> anyhow::Result<()> {
    let hello = spawn(Command::new(std::env::current_exe()?).arg("hello-server"))?;
    let skiff = Skiff::start()?;
    skiff.deploy("noop", "noop").await?;
    let invoke_path = "/2015-03-31/functions/noop/invocations";
    println!("## No-op Wasm sync invoke through the gateway vs bare hyper ({}s per phase)\n", phase.as_secs());
    println!("| connections | target | req/s | p50 | p99 | errors |");
    println!("|---|---|---|---|---|---|");
    for connections in [1, 32] {
        // Warm both up so neither pays first-connection or first-call costs in the measurement.
        load::run(&hello.addr, "/", b"{}", connections, Duration::from_millis(500)).await?;
        load::run(&skiff.proc.addr, invoke_path, b"{}", connections, Duration::from_millis(500)).await?;
        let base = load::run(&hello.addr, "/", b"{}", connections, phase).await?;
        let ours = load::run(&skiff.proc.addr, invoke_path, b"{}", connections, phase).await?;
        for (name, r) in [("bare hyper", &base), ("skiff noop invoke", &ours)] {
            println!("| {connections} | {name} | {:.0} | {} | {} | {} |", r.rps(), ms(r.percentile(0.5)), ms(r.percentile(0.99)), r.errors);
        }
        println!(
            "| {connections} | **ratio** | **{:.2}x** | {:.2}x | {:.2}x | |",
            ours.rps() / base.rps(),
            ours.percentile(0.5).as_secs_f64() / base.percentile(0.5).as_secs_f64(),
            ours.percentile(0.99).as_secs_f64() / base.percentile(0.99).as_secs_f64()
        );
    }
    println!();
    Ok(())
}

pub async fn first_invoke() -> anyhow::Result<()> {
    const FUNCTIONS: usize = 100;
    let skiff = Skiff::start()?;
    skiff.deploy("warmup", "echo").await?;
    let mut round_trip = Vec::new();
    let mut init = Vec::new();
    for i in 0..FUNCTIONS {
        let name = format!("first-{i}");
        skiff.deploy(&name, "echo").await?;
        let url = format!("http://{}/2015-03-31/functions/{name}/invocations", skiff.proc.addr);
        let t = Instant::now();
        let resp = skiff.http.post(&url).body("{}").send().await?;
        let init_ms = resp.headers().get("x-skiff-init-duration-ms").and_then(|v| v.to_str().ok()?.parse::<f64>().ok());
        resp.bytes().await?;
        round_trip.push(t.elapsed());
        init.push(Duration::from_secs_f64(init_ms.context("first call must report its init duration")? / 1000.0));
    }
    round_trip.sort();
    init.sort();
    let p = |v: &[Duration], q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    println!("## First invoke after deploy ({FUNCTIONS} functions, precompiled at deploy)\n");
    println!("| measure | p50 | p99 |");
    println!("|---|---|---|");
    println!("| HTTP round trip of the first invoke | {} | {} |", ms(p(&round_trip, 0.5)), ms(p(&round_trip, 0.99)));
    println!("| init duration reported by the server | {} | {} |", ms(p(&init, 0.5)), ms(p(&init, 0.99)));
    println!();
    Ok(())
}
