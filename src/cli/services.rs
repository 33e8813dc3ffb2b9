//! `skiff service deploy|ls|get|scale|rm|logs|endpoints`: long-running services.
//!
//! A definition comes from the `[service]` table of a `skiff.toml` (its keys are the deploy API's
//! fields, see docs/api.md; `memory` is accepted for `memory_mb`) and/or from flags, which win.

use super::{table, Client};
use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct ServiceArgs {
    #[command(subcommand)]
    command: ServiceCommand,
}

#[derive(Subcommand)]
enum ServiceCommand {
    /// Create or update a service from a manifest's [service] table and/or flags.
    Deploy(Box<DeployFlags>),
    /// List services.
    Ls,
    /// Show one service: definition, rollout, copies.
    Get { name: super::name::Name },
    /// Set the desired number of copies.
    Scale { name: super::name::Name, count: u32 },
    /// Delete a service and stop its copies.
    Rm { name: super::name::Name },
    /// The last lines each copy wrote.
    Logs {
        name: super::name::Name,
        #[arg(long, default_value_t = 100)]
        tail: usize,
    },
    /// The copies, their addresses and states (service discovery).
    Endpoints { name: super::name::Name },
}

#[derive(Args)]
struct DeployFlags {
    /// A folder holding skiff.toml, or the file.
    path: Option<PathBuf>,
    #[arg(long)]
    name: Option<String>,
    /// An image in the server's Docker engine.
    #[arg(long)]
    image: Option<String>,
    /// An Amazon ECS task definition (JSON) instead of --image: its containers make each copy;
    /// the name defaults to its family.
    #[arg(long, conflicts_with = "image")]
    task_definition: Option<PathBuf>,
    /// Replaces the image's ENTRYPOINT; split on whitespace.
    #[arg(long, allow_hyphen_values = true)]
    entrypoint: Option<String>,
    /// Replaces the image's CMD; split on whitespace.
    #[arg(long, allow_hyphen_values = true)]
    command: Option<String>,
    /// KEY=VALUE, repeatable.
    #[arg(long = "env")]
    env: Vec<String>,
    /// The port the copies listen on.
    #[arg(long)]
    port: Option<u16>,
    /// Desired copies.
    #[arg(long)]
    count: Option<u32>,
    /// Memory per copy, MB.
    #[arg(long)]
    memory: Option<u32>,
    /// vCPUs per copy.
    #[arg(long)]
    cpu: Option<f64>,
    #[arg(long)]
    health_path: Option<String>,
    #[arg(long)]
    health_interval_ms: Option<u64>,
    #[arg(long)]
    health_timeout_ms: Option<u64>,
    #[arg(long)]
    healthy_threshold: Option<u32>,
    #[arg(long)]
    unhealthy_threshold: Option<u32>,
    #[arg(long)]
    health_grace_ms: Option<u64>,
    #[arg(long)]
    min_healthy_percent: Option<u32>,
    #[arg(long)]
    max_surge_percent: Option<u32>,
    #[arg(long)]
    drain_timeout_ms: Option<u64>,
    /// Autoscaling: fewest copies (with --autoscale-max and --autoscale-target).
    #[arg(long, requires_all = ["autoscale_max", "autoscale_target"])]
    autoscale_min: Option<u32>,
    #[arg(long, requires_all = ["autoscale_min", "autoscale_target"])]
    autoscale_max: Option<u32>,
    /// Target in-flight requests per copy.
    #[arg(long, requires_all = ["autoscale_min", "autoscale_max"])]
    autoscale_target: Option<f64>,
    #[arg(long)]
    scale_out_cooldown_s: Option<u64>,
    #[arg(long)]
    scale_in_cooldown_s: Option<u64>,
    #[arg(long)]
    request_timeout_ms: Option<u64>,
    #[command(flatten)]
    placement: super::placement::PlacementFlags,
    /// Wait for the rollout to finish; exit non-zero if it was rolled back or is failing.
    #[arg(long)]
    wait: bool,
}

pub fn run(client: &Client, args: ServiceArgs, as_json: bool) -> anyhow::Result<ExitCode> {
    let request = |method, path: &str| client.request(method, path);
    match args.command {
        ServiceCommand::Deploy(flags) => return deploy(client, *flags, as_json),
        ServiceCommand::Ls => {
            let all: Value = client.send(request(reqwest::Method::GET, "/v1/services"))?.json()?;
            table::listing(&all, as_json, "services", &["NAME", "IMAGE", "REVISION", "DESIRED", "HEALTHY", "ROLLOUT"], |s| {
                vec![
                    s["name"].as_str().unwrap_or("-").to_string(),
                    s["spec"]["image"].as_str().unwrap_or("-").to_string(),
                    s["revision"].to_string(),
                    s["desired_count"].to_string(),
                    s["healthy_count"].to_string(),
                    s["rollout"]["state"].as_str().unwrap_or("-").to_string(),
                ]
            })?;
        }
        ServiceCommand::Get { name } => {
            let s: Value = client.send(request(reqwest::Method::GET, &format!("/v1/services/{name}")))?.json()?;
            println!("{}", serde_json::to_string_pretty(&s)?);
        }
        ServiceCommand::Scale { name, count } => {
            let path = format!("/v1/services/{name}/scale");
            let s: Value = client.send(request(reqwest::Method::POST, &path).json(&json!({ "count": count })))?.json()?;
            println!("service {name}: desired count {}", s["desired_count"]);
        }
        ServiceCommand::Rm { name } => {
            client.send(request(reqwest::Method::DELETE, &format!("/v1/services/{name}")))?;
            println!("removed service {name}");
        }
        ServiceCommand::Logs { name, tail } => {
            let path = format!("/v1/services/{name}/logs?tail={tail}");
            print!("{}", client.send(request(reqwest::Method::GET, &path))?.text()?);
        }
        ServiceCommand::Endpoints { name } => {
            let e: Value = client.send(request(reqwest::Method::GET, &format!("/v1/services/{name}/endpoints")))?.json()?;
            table::listing(&e, as_json, "endpoints", &["ID", "NODE", "ADDRESS", "REVISION", "STATE", "IN_FLIGHT"], |c| {
                let s = |k: &str| c[k].as_str().map_or_else(|| c[k].to_string(), str::to_string);
                vec![s("id"), s("node"), s("address"), s("revision"), s("state"), s("in_flight")]
            })?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The `[service]` table of a manifest, as the deploy API's JSON body.
fn manifest(path: &Path) -> anyhow::Result<Map<String, Value>> {
    let file = if path.is_dir() { path.join("skiff.toml") } else { path.to_path_buf() };
    let text = super::read_text(&file)?;
    let doc: toml::Table = toml::from_str(&text).with_context(|| format!("invalid manifest {}", file.display()))?;
    let Some(service) = doc.get("service").and_then(|s| s.as_table()) else {
        bail!("{} has no [service] table", file.display());
    };
    let mut body = match serde_json::to_value(service)? {
        Value::Object(map) => map,
        _ => unreachable!("a TOML table is a JSON object"),
    };
    if let Some(memory) = body.remove("memory") {
        body.insert("memory_mb".into(), memory);
    }
    Ok(body)
}

fn deploy(client: &Client, f: DeployFlags, as_json: bool) -> anyhow::Result<ExitCode> {
    let mut body = match &f.path {
        Some(path) => manifest(path)?,
        None => Map::new(),
    };
    if let Some(file) = &f.task_definition {
        body.insert("task_definition".into(), super::tasks::read_task_definition(file)?);
    }
    let family = body.get("task_definition").and_then(|t| t["family"].as_str()).map(str::to_string);
    let name = match (f.name.clone(), body.remove("name"), family) {
        (Some(n), _, _) => n,
        (None, Some(Value::String(n)), _) => n,
        (None, None, Some(family)) => family,
        _ => bail!("a service needs a name (--name, name in [service], or a task definition's family)"),
    };
    let mut set = |key: &str, value: Option<Value>| {
        if let Some(v) = value {
            body.insert(key.into(), v);
        }
    };
    set("image", f.image.map(Value::from));
    set("entrypoint", f.entrypoint.map(|c| c.split_whitespace().collect::<Vec<_>>().into()));
    set("command", f.command.map(|c| c.split_whitespace().collect::<Vec<_>>().into()));
    set("port", f.port.map(Value::from));
    set("count", f.count.map(Value::from));
    set("memory_mb", f.memory.map(Value::from));
    set("cpu", f.cpu.map(Value::from));
    set("request_timeout_ms", f.request_timeout_ms.map(Value::from));
    if let (Some(min), Some(max), Some(target)) = (f.autoscale_min, f.autoscale_max, f.autoscale_target) {
        let mut a = json!({ "min": min, "max": max, "target_in_flight": target });
        if let Some(s) = f.scale_out_cooldown_s {
            a["scale_out_cooldown_s"] = s.into();
        }
        if let Some(s) = f.scale_in_cooldown_s {
            a["scale_in_cooldown_s"] = s.into();
        }
        set("autoscaling", Some(a));
    }
    let nested = [
        ("health", "path", f.health_path.map(Value::from)),
        ("health", "interval_ms", f.health_interval_ms.map(Value::from)),
        ("health", "timeout_ms", f.health_timeout_ms.map(Value::from)),
        ("health", "healthy_threshold", f.healthy_threshold.map(Value::from)),
        ("health", "unhealthy_threshold", f.unhealthy_threshold.map(Value::from)),
        ("health", "grace_period_ms", f.health_grace_ms.map(Value::from)),
        ("deployment", "min_healthy_percent", f.min_healthy_percent.map(Value::from)),
        ("deployment", "max_surge_percent", f.max_surge_percent.map(Value::from)),
        ("deployment", "drain_timeout_ms", f.drain_timeout_ms.map(Value::from)),
    ];
    for (table, key, value) in nested {
        if let Some(v) = value {
            let entry = body.entry(table).or_insert_with(|| json!({}));
            entry[key] = v;
        }
    }
    f.placement.apply(&mut body);
    if !f.env.is_empty() {
        let entry = body.entry("env").or_insert_with(|| json!({}));
        for kv in &f.env {
            let Some((k, v)) = kv.split_once('=') else { bail!("--env takes KEY=VALUE, got {kv:?}") };
            entry[k] = v.into();
        }
    }
    let path = format!("/v1/services/{name}");
    let mut s: Value = client.send(client.request(reqwest::Method::PUT, &path).json(&body))?.json()?;
    let revision = s["revision"].clone();
    if f.wait {
        // Until the rollout has ended and, when it completed, the desired count of copies runs and
        // is healthy: a change of count alone completes at once but still starts or stops copies.
        let deadline = Instant::now() + Duration::from_secs(600);
        while s["revision"] == revision && !settled(&s) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(250));
            s = client.send(client.request(reqwest::Method::GET, &path))?.json()?;
        }
    }
    if as_json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        println!(
            "service {name}: revision {}, desired {}, rollout {}{}",
            s["revision"],
            s["desired_count"],
            s["rollout"]["state"].as_str().unwrap_or("-"),
            s["rollout"]["message"].as_str().map(|m| format!(" ({m})")).unwrap_or_default()
        );
        if let Some(pending) = s["pending"].as_str() {
            println!("pending: {pending}");
        }
    }
    let failed = f.wait && !(s["rollout"]["state"] == "completed" && settled(&s));
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// The rollout is over: rolled back or failed for good, or completed with exactly the desired
/// number of copies, all healthy.
fn settled(s: &Value) -> bool {
    match s["rollout"]["state"].as_str() {
        Some("in_progress") => false,
        Some("completed") => {
            let desired = s["desired_count"].as_u64();
            let copies = s["copies"].as_array().map(|c| c.len() as u64);
            desired == s["healthy_count"].as_u64() && desired == copies
        }
        _ => true,
    }
}
