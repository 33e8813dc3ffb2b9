//! What compiling each deploy in a limited child process costs: the same code compiled by the
//! server's engine in-process and by `skiff compile-wasm` children, on a cold cache each time.

use skiff_workers::wasm::{CompileLimits, Compiler, EngineOptions, WasmBackend};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// (name, path under functions/, compiles per engine).
const CODE: [(&str, &str, usize); 3] = [
    ("no-op module (WAT)", "fixtures/noop.wat", 20),
    ("hello-c module", "hello-c/build/hello.wasm", 10),
    ("hello-py component (18 MB)", "hello-py/build/hello.wasm", 2),
];

fn backend(cache: &Path, compiler: Compiler) -> anyhow::Result<WasmBackend> {
    Ok(WasmBackend::new(EngineOptions { enforce_limits: true, max_instances: 64, cache_dir: cache.to_path_buf(), compiler })?)
}

/// Median time of `runs` compiles of `code`, each under a fresh name so nothing is cached.
fn median_compile(backend: &WasmBackend, code: &[u8], runs: usize) -> anyhow::Result<Duration> {
    let mut times = Vec::with_capacity(runs);
    for i in 0..runs {
        let name = format!("bench-{i}-{}", uuid_like());
        let started = Instant::now();
        backend.compile(&name, code)?;
        times.push(started.elapsed());
        backend.forget(&name);
    }
    times.sort();
    Ok(times[runs / 2])
}

fn uuid_like() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default()
}

pub async fn run() -> anyhow::Result<()> {
    let exe: PathBuf = std::env::current_exe()?.with_file_name("skiff");
    anyhow::ensure!(exe.exists(), "{} not found: run `cargo build --release` first", exe.display());
    let dir = tempfile::tempdir()?;
    let limits = CompileLimits { cpu_seconds: 60, memory_mib: 2048 };
    let in_process = backend(&dir.path().join("in"), Compiler::InProcess)?;
    let child = backend(&dir.path().join("child"), Compiler::Subprocess { exe, limits })?;
    let functions = Path::new(env!("CARGO_MANIFEST_DIR")).join("../functions");
    println!("## Compile at deploy: in a limited child process vs in-process (cold cache)\n");
    println!("| code | runs | in-process p50 | child process p50 | child / in-process |");
    println!("|---|---|---|---|---|");
    for (name, path, runs) in CODE {
        let Ok(code) = std::fs::read(functions.join(path)) else {
            println!("| {name} | skipped: functions/{path} not built (scripts/build-functions.sh) | | | |");
            continue;
        };
        let (a, b) = tokio::task::spawn_blocking({
            let (in_process, child) = (in_process.clone(), child.clone());
            move || -> anyhow::Result<(Duration, Duration)> { Ok((median_compile(&in_process, &code, runs)?, median_compile(&child, &code, runs)?)) }
        })
        .await??;
        let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
        println!("| {name} | {runs} | {} | {} | {:.2}x |", ms(a), ms(b), b.as_secs_f64() / a.as_secs_f64());
    }
    Ok(())
}
