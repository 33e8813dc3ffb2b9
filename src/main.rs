//! `skiff`: the server (`skiff server`) and the CLI client for it, in one binary.

mod cli;
mod node;
mod server;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "skiff", version, about = "Self-hosted serverless functions on Wasm and containers")]
struct Args {
    /// Server URL for client commands.
    #[arg(long, global = true, env = "SKIFF_URL", default_value = "http://127.0.0.1:9000")]
    url: String,
    /// Shared auth token (client: sent as a bearer token; server: required from clients).
    #[arg(long, global = true, env = "SKIFF_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// A file holding the token (keeps it out of the process list, which every local user can
    /// read).
    #[arg(long, global = true, env = "SKIFF_TOKEN_FILE", conflicts_with = "token")]
    token_file: Option<std::path::PathBuf>,
    /// Print machine-readable JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the platform.
    Server(server::ServerArgs),
    /// Create or update a function from a skiff.toml manifest or flags.
    Deploy(cli::deploy::DeployArgs),
    /// Invoke a function and print its result.
    Invoke(cli::invoke::InvokeArgs),
    /// List functions.
    Ls,
    /// Show one function.
    Get { name: cli::name::Name },
    /// Delete a function.
    Rm { name: cli::name::Name },
    /// Show a function's recent invocation logs.
    Logs(cli::logs::LogsArgs),
    /// Show the status of an asynchronous invocation.
    Status { id: cli::name::Name },
    /// Dead-lettered events: ls, show, redrive.
    Dlq(cli::events::DlqArgs),
    /// Publish the function's current code and configuration as its next version.
    Publish(cli::versions::PublishArgs),
    /// A function's versions: $LATEST and the published ones.
    Versions { name: cli::name::Name },
    /// Aliases: set (with an optional weighted second version), ls, rm.
    Alias(cli::versions::AliasArgs),
    /// Access keys for AWS SDKs and the AWS CLI, each limited by an IAM policy: create, ls, rm.
    Keys(cli::keys::KeysArgs),
    /// Queue triggers: add, ls, rm.
    Trigger(cli::triggers::TriggerArgs),
    /// Long-running services: deploy, ls, get, scale, rm, logs, endpoints.
    Service(cli::services::ServiceArgs),
    /// One-off tasks from an ECS task definition: run, ls, get, logs, stop.
    Task(cli::tasks::TaskArgs),
    /// The cluster's nodes: name, address, state, capacity, executions in flight.
    Nodes,
    /// The server's Wasm compiler, run by the server in a child process with limits: code on
    /// stdin, the compiled artifact on stdout.
    #[command(hide = true)]
    CompileWasm {
        #[arg(long)]
        max_instances: u32,
        #[arg(long, action = clap::ArgAction::Set)]
        enforce_limits: bool,
    },
}

fn main() -> ExitCode {
    let mut args = Args::parse();
    if let Some(path) = &args.token_file {
        match cli::read_text(path) {
            Ok(token) if !token.trim().is_empty() => args.token = Some(token.trim().to_string()),
            Ok(_) => return fail(anyhow::anyhow!("{} holds no token", path.display())),
            Err(e) => return fail(e),
        }
    }
    let client = || cli::Client::new(&args.url, args.token.clone());
    let result = match args.command {
        Command::Server(server_args) => server::run(server_args, args.token.clone()),
        Command::Deploy(a) => client().and_then(|c| cli::deploy::run(&c, a, args.json)),
        Command::Invoke(a) => client().and_then(|c| cli::invoke::run(&c, a)),
        Command::Ls => client().and_then(|c| cli::functions::list(&c, args.json)),
        Command::Get { name } => client().and_then(|c| cli::functions::get(&c, &name, args.json)),
        Command::Rm { name } => client().and_then(|c| cli::functions::remove(&c, &name)),
        Command::Logs(a) => client().and_then(|c| cli::logs::run(&c, a, args.json)),
        Command::Status { id } => client().and_then(|c| cli::events::status(&c, &id, args.json)),
        Command::Dlq(a) => client().and_then(|c| cli::events::dlq(&c, a, args.json)),
        Command::Publish(a) => client().and_then(|c| cli::versions::publish(&c, a, args.json)),
        Command::Versions { name } => client().and_then(|c| cli::versions::list(&c, &name, args.json)),
        Command::Alias(a) => client().and_then(|c| cli::versions::alias(&c, a, args.json)),
        Command::Keys(a) => client().and_then(|c| cli::keys::run(&c, a, args.json)),
        Command::Trigger(a) => client().and_then(|c| cli::triggers::run(&c, a, args.json)),
        Command::Service(a) => client().and_then(|c| cli::services::run(&c, a, args.json)),
        Command::Task(a) => client().and_then(|c| cli::tasks::run(&c, a, args.json)),
        Command::Nodes => client().and_then(|c| cli::nodes::list(&c, args.json)),
        Command::CompileWasm { max_instances, enforce_limits } => return compile_wasm(max_instances, enforce_limits),
    };
    result.unwrap_or_else(fail)
}

fn compile_wasm(max_instances: u32, enforce_limits: bool) -> ExitCode {
    match skiff_workers::wasm::compiler_engine(max_instances, enforce_limits) {
        Ok(engine) => ExitCode::from(skiff_workers::wasm::child_main(&engine) as u8),
        Err(e) => fail(e.into()),
    }
}

fn fail(e: anyhow::Error) -> ExitCode {
    eprintln!("error: {e:#}");
    ExitCode::FAILURE
}
