//! `skiff task run|ls|get|logs|stop`: one-off tasks from an Amazon ECS task definition. With
//! `--json`, tasks print in the shape of ECS's `DescribeTasks` (`{"tasks": [...]}`).

use super::{table, Client};
use anyhow::Context;
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct TaskArgs {
    #[command(subcommand)]
    command: TaskCommand,
}

#[derive(Subcommand)]
enum TaskCommand {
    /// Run a task definition to completion on a node the scheduler picks.
    Run(RunFlags),
    /// List tasks, newest first.
    Ls,
    /// Show one task (ECS DescribeTasks fields).
    Get { id: super::name::Name },
    /// What the task printed (kept after it stopped).
    Logs {
        id: super::name::Name,
        #[arg(long, default_value_t = 100)]
        tail: usize,
    },
    /// Stop a task (stop code UserInitiated).
    Stop { id: super::name::Name },
}

#[derive(Args)]
struct RunFlags {
    /// An Amazon ECS task definition, as JSON.
    #[arg(long)]
    task_definition: PathBuf,
    /// How many tasks to start.
    #[arg(long, default_value_t = 1)]
    count: u32,
    /// Stop a task that runs longer (stop code Timeout), seconds.
    #[arg(long)]
    timeout: Option<u64>,
    #[command(flatten)]
    placement: super::placement::PlacementFlags,
    /// Wait until every task stopped; exit with the first essential container's exit code.
    #[arg(long)]
    wait: bool,
}

/// Reads a task definition file (JSON) into the request body's `task_definition`.
pub fn read_task_definition(path: &Path) -> anyhow::Result<Value> {
    let text = super::read_text(path)?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

pub fn run(client: &Client, args: TaskArgs, as_json: bool) -> anyhow::Result<ExitCode> {
    match args.command {
        TaskCommand::Run(flags) => return run_tasks(client, flags, as_json),
        TaskCommand::Ls => {
            let all: Value = client.send(client.request(Method::GET, "/v1/tasks"))?.json()?;
            table::listing(&all, as_json, "tasks", &["ID", "FAMILY", "STATUS", "NODE", "STOP CODE", "EXIT CODES"], row)?;
        }
        TaskCommand::Get { id } => {
            let task: Value = client.send(client.request(Method::GET, &format!("/v1/tasks/{id}")))?.json()?;
            println!("{}", serde_json::to_string_pretty(&task)?);
        }
        TaskCommand::Logs { id, tail } => {
            print!("{}", client.send(client.request(Method::GET, &format!("/v1/tasks/{id}/logs?tail={tail}")))?.text()?);
        }
        TaskCommand::Stop { id } => {
            client.send(client.request(Method::POST, &format!("/v1/tasks/{id}/stop")))?;
            println!("stopping task {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn run_tasks(client: &Client, f: RunFlags, as_json: bool) -> anyhow::Result<ExitCode> {
    let mut body = Map::new();
    body.insert("task_definition".into(), read_task_definition(&f.task_definition)?);
    body.insert("count".into(), f.count.into());
    if let Some(t) = f.timeout {
        body.insert("timeout_s".into(), t.into());
    }
    f.placement.apply(&mut body);
    let mut tasks: Value = client.send(client.request(Method::POST, "/v1/tasks").json(&body))?.json()?;
    if f.wait {
        let ids: Vec<String> = tasks["tasks"].as_array().into_iter().flatten().filter_map(|t| t["taskId"].as_str().map(str::to_string)).collect();
        tasks = wait_stopped(client, &ids, f.timeout.map_or(Duration::from_secs(24 * 3600), |t| Duration::from_secs(t + 60)))?;
    }
    if as_json {
        println!("{}", serde_json::to_string_pretty(&tasks)?);
    } else {
        table::listing(&tasks, false, "tasks", &["ID", "FAMILY", "STATUS", "NODE", "STOP CODE", "EXIT CODES"], row)?;
    }
    if !f.wait {
        return Ok(ExitCode::SUCCESS);
    }
    let code = tasks["tasks"].as_array().into_iter().flatten().find_map(|t| {
        let essential_exit = t["containers"].as_array()?.iter().find_map(|c| c["exitCode"].as_i64().filter(|code| *code != 0));
        essential_exit.or_else(|| (t["stopCode"] != "EssentialContainerExited").then_some(1))
    });
    Ok(ExitCode::from(code.map_or(0, |c| c.clamp(1, 255) as u8)))
}

fn wait_stopped(client: &Client, ids: &[String], limit: Duration) -> anyhow::Result<Value> {
    let deadline = Instant::now() + limit;
    loop {
        let mut all = Vec::new();
        for id in ids {
            all.push(client.send(client.request(Method::GET, &format!("/v1/tasks/{id}")))?.json::<Value>()?);
        }
        if all.iter().all(|t| t["lastStatus"] == "STOPPED") || Instant::now() >= deadline {
            return Ok(json!({ "tasks": all }));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn row(t: &Value) -> Vec<String> {
    let s = |k: &str| t[k].as_str().unwrap_or("-").to_string();
    let codes: Vec<String> = t["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| format!("{}={}", c["name"].as_str().unwrap_or("?"), c["exitCode"].as_i64().map_or("-".into(), |e| e.to_string())))
        .collect();
    vec![s("taskId"), s("family"), s("lastStatus"), s("node"), s("stopCode"), codes.join(",")]
}
