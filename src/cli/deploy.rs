use super::{manifest, Client};
use anyhow::{bail, Context};
use base64::Engine as _;
use clap::Args;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct DeployArgs {
    /// A folder with skiff.toml, or the manifest file. Flags override the manifest.
    path: Option<PathBuf>,
    #[arg(long)]
    name: Option<String>,
    /// A Wasm module (WASI preview 1) or component (wasi:cli/command), binary or text.
    #[arg(long, conflicts_with = "image")]
    wasm: Option<PathBuf>,
    /// A container image in the local Docker engine.
    #[arg(long)]
    image: Option<String>,
    /// Memory in MB (128..10240).
    #[arg(long)]
    memory: Option<u32>,
    /// Timeout in seconds (1..900).
    #[arg(long)]
    timeout: Option<u32>,
    /// Reserved concurrency (>= 1).
    #[arg(long)]
    concurrency: Option<u32>,
    /// Environment variable, KEY=VALUE (repeatable).
    #[arg(long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
}

pub fn run(client: &Client, args: DeployArgs, as_json: bool) -> anyhow::Result<ExitCode> {
    let mut m = match &args.path {
        Some(p) => manifest::load(p)?,
        None => Default::default(),
    };
    m.name = args.name.or(m.name);
    m.wasm = args.wasm.or(m.wasm);
    m.image = args.image.or(m.image);
    m.memory = args.memory.or(m.memory);
    m.timeout = args.timeout.or(m.timeout);
    m.concurrency = args.concurrency.or(m.concurrency);
    for kv in &args.env {
        let Some((k, v)) = kv.split_once('=') else { bail!("--env expects KEY=VALUE, got {kv:?}") };
        m.env.insert(k.to_string(), v.to_string());
    }
    let Some(name) = m.name else { bail!("a function name is required (--name or name in skiff.toml)") };
    if m.image.is_some() {
        bail!("container functions (--image) are not supported by this build yet");
    }
    let mut body = json!({});
    if let Some(path) = &m.wasm {
        let code = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        body["wasm_base64"] = base64::engine::general_purpose::STANDARD.encode(code).into();
    }
    if let Some(v) = m.memory {
        body["memory_mb"] = v.into();
    }
    if let Some(v) = m.timeout {
        body["timeout_s"] = v.into();
    }
    if let Some(v) = m.concurrency {
        body["concurrency"] = v.into();
    }
    if !m.env.is_empty() {
        body["env"] = serde_json::to_value(&m.env)?;
    }
    let resp = client.send(client.request(reqwest::Method::PUT, &format!("/v1/functions/{name}")).json(&body))?;
    let config: Value = resp.json()?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&config)?);
    } else {
        println!("deployed {} version {}", config["name"].as_str().unwrap_or(&name), config["version"]);
    }
    Ok(ExitCode::SUCCESS)
}
