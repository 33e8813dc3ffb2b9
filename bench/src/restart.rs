//! The first call after a server restart, by what the server finds in its artifact cache:
//! - untouched: the artifact's stamp matches its sum file, so it is mapped without hashing;
//! - touched: rewritten with the same bytes (as a restored backup is), so it is hashed in full;
//! - gone: compiled again from the stored blob — what a damaged artifact costs.
//!
//! The code is the Python component when it has been built (18 MB, a 35 MB artifact: the case
//! where checking matters), else the echo fixture.

use crate::load::ms;
use crate::server::Skiff;
use anyhow::{ensure, Context};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const RESTARTS: usize = 5;

#[derive(Clone, Copy)]
enum Cache {
    Untouched,
    Touched,
    Gone,
}

impl Cache {
    const ALL: [Cache; 3] = [Cache::Untouched, Cache::Touched, Cache::Gone];

    fn describe(self) -> &'static str {
        match self {
            Cache::Untouched => "artifact untouched (stamp trusted)",
            Cache::Touched => "artifact touched (hashed in full)",
            Cache::Gone => "artifact gone (compiled from the blob)",
        }
    }

    /// Leaves the artifact at `path` the way this case needs it before a start.
    fn prepare(self, path: &Path) -> anyhow::Result<()> {
        match self {
            Cache::Untouched => Ok(()),
            Cache::Touched if path.exists() => Ok(std::fs::write(path, std::fs::read(path)?)?),
            Cache::Touched => anyhow::bail!("{} is gone", path.display()),
            Cache::Gone => Ok(std::fs::remove_dir_all(path.parent().context("an artifact has a directory")?)?),
        }
    }
}

pub async fn run() -> anyhow::Result<()> {
    let (code, what) = code_under_test()?;
    let data = tempfile::tempdir()?;
    {
        let skiff = Skiff::start_in(data.path())?;
        skiff.deploy_code("f", &code, json!({})).await?;
        ensure!(skiff.invoke("f", "{}").await?.0 == 200, "the first call failed");
    }
    let artifact = artifact_in(&data.path().join("compiled"))?;
    println!("## First call after a restart ({what}, {RESTARTS} restarts each)\n");
    println!("| the server finds | p50 | max | share of compiling again |");
    println!("|---|---|---|---|");
    let mut rows = Vec::new();
    for case in Cache::ALL {
        let mut times = Vec::new();
        for _ in 0..RESTARTS {
            case.prepare(&artifact)?;
            let skiff = Skiff::start_in(data.path())?;
            let started = Instant::now();
            ensure!(skiff.invoke("f", "{}").await?.0 == 200, "a first call after a restart failed");
            times.push(started.elapsed());
        }
        times.sort();
        rows.push((case, times[RESTARTS / 2], times[RESTARTS - 1]));
    }
    let compiling = rows.last().map_or(Duration::ZERO, |r| r.1);
    for (case, p50, max) in rows {
        println!("| {} | {} | {} | {:.1}% |", case.describe(), ms(p50), ms(max), 100.0 * p50.as_secs_f64() / compiling.as_secs_f64());
    }
    println!();
    Ok(())
}

/// The Python component if built, else the echo fixture.
fn code_under_test() -> anyhow::Result<(Vec<u8>, &'static str)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = root.join("functions/hello-py/build/hello.wasm");
    if python.exists() {
        return Ok((std::fs::read(python)?, "the Python component"));
    }
    Ok((std::fs::read(root.join("functions/fixtures/echo.wat"))?, "the echo fixture"))
}

fn artifact_in(dir: &Path) -> anyhow::Result<PathBuf> {
    std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .with_context(|| format!("no compiled artifact in {}", dir.display()))
}
