//! `wasmtime serve`, the baseline for `wasi:http` components: the wasmtime CLI of the same
//! version as the embedded wasmtime, built once from the Rust registry (`cargo install
//! wasmtime-cli`) into a cache outside the repo's tree (`~/.cache/skiff-bench`, or
//! `$SKIFF_BENCH_CACHE`), and run with its defaults on a free loopback port.

use anyhow::{bail, Context};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub(crate) struct WasmtimeServe {
    child: Child,
    pub(crate) addr: String,
}

impl Drop for WasmtimeServe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The version of wasmtime Skiff embeds, as the workspace's lock file pins it.
fn embedded_version() -> anyhow::Result<String> {
    let lock = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.lock");
    let text = std::fs::read_to_string(&lock).with_context(|| format!("reading {}", lock.display()))?;
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line == "name = \"wasmtime\"" {
            if let Some(version) = lines.next().and_then(|l| l.strip_prefix("version = \"")) {
                return Ok(version.trim_end_matches('"').to_string());
            }
        }
    }
    bail!("no wasmtime in {}", lock.display())
}

/// The wasmtime CLI matching the embedded version, built on first use.
pub(crate) fn cli() -> anyhow::Result<PathBuf> {
    let version = embedded_version()?;
    let cache = match std::env::var_os("SKIFF_BENCH_CACHE") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").context("HOME is not set")?).join(".cache/skiff-bench"),
    };
    let root = cache.join(format!("wasmtime-{version}"));
    let exe = root.join("bin/wasmtime");
    if !exe.exists() {
        eprintln!("building the wasmtime CLI {version} into {} (once; several minutes)", root.display());
        let status = Command::new("cargo")
            .args(["install", "wasmtime-cli", "--locked", "--version", &version, "--root"])
            .arg(&root)
            .status()
            .context("running cargo install")?;
        if !status.success() {
            bail!("cargo install wasmtime-cli {version} failed");
        }
    }
    Ok(exe)
}

impl WasmtimeServe {
    /// Serves `component` (with the `wasi:cli` interfaces a componentize-py guest imports).
    pub(crate) fn start(cli: &Path, component: &Path) -> anyhow::Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let addr = format!("127.0.0.1:{port}");
        let child = Command::new(cli)
            .args(["serve", "-S", "cli=y", "--addr", &addr])
            .arg(component)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", cli.display()))?;
        let serve = Self { child, addr };
        // It compiles the component before it listens: an 18 MB Python one takes a while.
        crate::server::wait_listening("wasmtime serve", &serve.addr, Duration::from_secs(180))?;
        Ok(serve)
    }
}
