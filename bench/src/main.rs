//! `skiff-bench`: each benchmark runs Skiff and its baseline in the same run on the same machine
//! and reports the ratio. See BENCHMARKS.md for the commands and the recorded results.

mod asyncs;
mod cluster;
mod compile;
mod containers;
mod cpu;
mod etcd;
mod hello;
mod idle_memory;
mod limits;
mod load;
mod nginx;
mod reschedule;
mod restart;
mod server;
mod services;
mod versions;
mod wasi_http;
mod wasmtime_serve;

use clap::{Parser, Subcommand};
use std::time::Duration;

#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// Seconds each load phase runs.
    #[arg(long, default_value_t = 5, global = true)]
    seconds: u64,
}

#[derive(Subcommand)]
enum Command {
    /// Every benchmark below, in order.
    All,
    /// No-op Wasm sync invoke through the gateway vs a bare hyper hello-world server.
    Invoke,
    /// Invoking a published version or a weighted alias vs unqualified.
    Versions,
    /// First-invoke latency of freshly deployed, precompiled functions.
    FirstInvoke,
    /// The first call after a server restart: artifact untouched, touched, or gone.
    Restart,
    /// Cost of epoch interruption + memory limiter (on vs off) in the Wasm worker.
    Limits,
    /// Resident memory each deployed Wasm function adds to an idle server.
    IdleMemory,
    /// Compiling a deploy in a limited child process vs in-process.
    Compile,
    /// Container functions: cold start vs `docker run`, warm invoke overhead and throughput.
    Containers,
    /// Async end to end on RabbitMQ vs raw lapin publish + consume; latency at half the rate.
    Async,
    /// Service proxy `/svc/NAME/` vs the copy directly: throughput and p50.
    Services {
        /// Only this handler: `no-op` or `1ms` (both when absent).
        #[arg(long)]
        handler: Option<String>,
    },
    /// Cluster: forwarded vs local sync invoke; time to serve a dead or frozen node's functions.
    Cluster,
    /// wasi:http components: `/fn` vs `wasmtime serve` on the same file; instance reuse.
    WasiHttp,
    /// Internal: the bare hyper baseline server.
    #[command(hide = true)]
    HelloServer,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let phase = Duration::from_secs(args.seconds);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match args.command.unwrap_or(Command::All) {
        Command::HelloServer => rt.block_on(hello::serve()),
        Command::Invoke => rt.block_on(server::invoke_throughput(phase)),
        Command::FirstInvoke => rt.block_on(server::first_invoke()),
        Command::Restart => rt.block_on(restart::run()),
        Command::Versions => rt.block_on(versions::run(phase)),
        Command::Limits => rt.block_on(limits::run(phase)),
        Command::IdleMemory => rt.block_on(idle_memory::run()),
        Command::Compile => rt.block_on(compile::run()),
        Command::Containers => rt.block_on(containers::run(phase)),
        Command::Async => rt.block_on(asyncs::run(phase)),
        Command::Services { handler } => rt.block_on(services::run(phase, handler.as_deref())),
        Command::WasiHttp => rt.block_on(wasi_http::run(phase)),
        Command::Cluster => rt.block_on(async {
            cluster::run(phase).await?;
            println!();
            reschedule::run().await
        }),
        Command::All => rt.block_on(async {
            server::invoke_throughput(phase).await?;
            server::first_invoke().await?;
            restart::run().await?;
            versions::run(phase).await?;
            limits::run(phase).await?;
            idle_memory::run().await?;
            compile::run().await?;
            containers::run(phase).await?;
            asyncs::run(phase).await?;
            services::run(phase, None).await?;
            wasi_http::run(phase).await?;
            cluster::run(phase).await
        }),
    }
}
