use super::{manifest, versions, zip_folder, Client};
use anyhow::{bail, Context};
use clap::Args;
use skiff_api::{DeployBody, EventsBody, FunctionConfig};
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
    /// Build the image from this folder's Dockerfile first (through the local Docker engine).
    #[arg(long, conflicts_with_all = ["wasm", "image"])]
    build: Option<PathBuf>,
    /// A zip function: the managed runtime that runs it (python3.11).
    #[arg(long, conflicts_with_all = ["wasm", "image", "build"])]
    runtime: Option<String>,
    /// A zip function: its handler, MODULE.FUNCTION (app.handler).
    #[arg(long, conflicts_with_all = ["wasm", "image", "build"])]
    handler: Option<String>,
    /// A zip function: the folder zipped as its code (the manifest's folder by default).
    #[arg(long, conflicts_with_all = ["wasm", "image", "build"])]
    code: Option<PathBuf>,
    /// Publish a version once deployed (an unchanged function keeps the version it has).
    #[arg(long)]
    publish: bool,
    /// Wasm wasi:http components: keep an instance after a call for the next one (its globals
    /// survive between calls); --reuse=false turns it off.
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    reuse: Option<bool>,
    /// With reuse: calls one instance serves at most (default 10000).
    #[arg(long)]
    reuse_max_calls: Option<u32>,
    /// With reuse: seconds an idle instance is kept (default 300).
    #[arg(long)]
    reuse_idle_s: Option<u32>,
    /// An OCI registry the cluster's nodes pull from (HOST:PORT): a built image is pushed there
    /// and deployed by digest, so every node runs the same bytes.
    #[arg(long, env = "SKIFF_REGISTRY")]
    registry: Option<String>,
    /// Container functions: give the container a network for outbound connections.
    #[arg(long)]
    egress: Option<bool>,
    /// Container functions: containers kept started ahead of demand.
    #[arg(long)]
    provisioned: Option<u32>,
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
    /// Asynchronous invocations: retries after a failed attempt (0..10, default 2).
    #[arg(long)]
    max_retries: Option<u32>,
    /// Asynchronous invocations: seconds an event may wait before it is dead-lettered (1..21600).
    #[arg(long = "max-event-age")]
    max_event_age: Option<u32>,
    /// Asynchronous invocations: the first retry's delay in ms, doubled for each further one.
    #[arg(long)]
    retry_delay_ms: Option<u32>,
    /// Asynchronous invocations: where a record of each success goes (function:NAME or
    /// queue:NAME; "none" clears it).
    #[arg(long)]
    on_success: Option<String>,
}

pub fn run(client: &Client, args: DeployArgs, as_json: bool) -> anyhow::Result<ExitCode> {
    let mut m = match &args.path {
        Some(p) => manifest::load(p)?,
        None => Default::default(),
    };
    m.name = args.name.or(m.name);
    // Code given on the command line replaces the manifest's, whichever kind it was.
    if args.wasm.is_some() || args.image.is_some() || args.build.is_some() {
        (m.wasm, m.image, m.build, m.runtime, m.handler, m.code) = (None, None, None, None, None, None);
    }
    if args.runtime.is_some() || args.handler.is_some() || args.code.is_some() {
        (m.wasm, m.image, m.build) = (None, None, None);
    }
    m.wasm = args.wasm.or(m.wasm);
    m.image = args.image.or(m.image);
    m.build = args.build.or(m.build);
    m.runtime = args.runtime.or(m.runtime);
    m.handler = args.handler.or(m.handler);
    m.code = args.code.or(m.code);
    m.publish = Some(args.publish || m.publish.unwrap_or(false));
    m.reuse = args.reuse.or(m.reuse);
    m.reuse_max_calls = args.reuse_max_calls.or(m.reuse_max_calls);
    m.reuse_idle_s = args.reuse_idle_s.or(m.reuse_idle_s);
    m.egress = args.egress.or(m.egress);
    m.provisioned = args.provisioned.or(m.provisioned);
    m.memory = args.memory.or(m.memory);
    m.timeout = args.timeout.or(m.timeout);
    m.concurrency = args.concurrency.or(m.concurrency);
    for kv in &args.env {
        let Some((k, v)) = kv.split_once('=') else { bail!("--env expects KEY=VALUE, got {kv:?}") };
        m.env.insert(k.to_string(), v.to_string());
    }
    m.events.max_retries = args.max_retries.or(m.events.max_retries);
    m.events.max_event_age = args.max_event_age.or(m.events.max_event_age);
    m.events.retry_delay_ms = args.retry_delay_ms.or(m.events.retry_delay_ms);
    m.events.on_success = args.on_success.or(m.events.on_success);
    let Some(name) = m.name.clone() else { bail!("a function name is required (--name or name in skiff.toml)") };
    check_code_kinds(&m)?;
    check_aliases(&m)?;
    if let Some(context) = &m.build {
        let built = build_image(context, &name)?;
        m.image = Some(match &args.registry {
            Some(registry) => push_image(&built, registry, &name)?,
            None => built,
        });
    }
    let mut body = DeployBody {
        image: m.image.clone(),
        egress: m.egress,
        provisioned: m.provisioned,
        memory_mb: m.memory,
        timeout_s: m.timeout,
        concurrency: m.concurrency.map(Some),
        reuse: reuse_of(&m)?,
        env: (!m.env.is_empty()).then(|| m.env.clone()),
        events: EventsBody {
            max_retries: m.events.max_retries,
            max_event_age_s: m.events.max_event_age,
            retry_delay_ms: m.events.retry_delay_ms,
            on_success: m.events.on_success.as_ref().map(|v| (v != "none").then(|| v.clone())),
        },
        ..Default::default()
    };
    if let Some(path) = &m.wasm {
        // The server takes deploy bodies of at most 96 MiB, base64 included.
        let code = super::read_bounded(path, 72 << 20)?;
        body = body.with_wasm(&code);
    }
    if let Some(folder) = &m.code {
        let skip: Vec<PathBuf> = m.file.iter().cloned().collect();
        body = body.with_zip(&zip_folder::pack(folder, &skip)?);
        (body.runtime, body.handler) = (m.runtime.clone(), m.handler.clone());
    }
    let resp = client.send(client.request(reqwest::Method::PUT, &format!("/v1/functions/{name}")).json(&body))?;
    let config: FunctionConfig = resp.json()?;
    // `--json` prints the function's config, with what was published and pointed beside it.
    let mut shown = serde_json::to_value(&config)?;
    if !as_json {
        println!("deployed {} version {}", config.name, config.version);
    }
    let published = match m.publish {
        Some(true) => {
            let version = versions::publish_version(client, &name, None)?;
            let number = version["Version"].as_str().unwrap_or_default().to_string();
            if !as_json {
                println!("published {name} version {number}");
            }
            shown["published_version"] = version;
            Some(number)
        }
        _ => None,
    };
    for (alias, spec) in &m.aliases {
        let alias_shown = point_alias(client, &name, alias, spec, published.as_deref())?;
        if !as_json {
            println!("{name}:{alias} -> {}", versions::routing(&alias_shown));
        }
        shown["aliases"][alias] = alias_shown;
    }
    if as_json {
        println!("{}", serde_json::to_string_pretty(&shown)?);
    }
    Ok(ExitCode::SUCCESS)
}

/// The reuse setting to send: on with its limits, off, or unchanged.
fn reuse_of(m: &manifest::Manifest) -> anyhow::Result<Option<Option<skiff_api::Reuse>>> {
    let limits_given = m.reuse_max_calls.is_some() || m.reuse_idle_s.is_some();
    match m.reuse {
        Some(false) if limits_given => bail!("reuse limits are given but reuse is off"),
        Some(false) => Ok(Some(None)),
        None if limits_given => bail!("reuse limits are given without reuse = true (--reuse)"),
        None => Ok(None),
        Some(true) => {
            let defaults = skiff_api::Reuse::default();
            let max_calls = m.reuse_max_calls.unwrap_or(defaults.max_calls);
            Ok(Some(Some(skiff_api::Reuse { max_calls, idle_s: m.reuse_idle_s.unwrap_or(defaults.idle_s) })))
        }
    }
}

/// One kind of code: Wasm, an image (or a folder to build one from), or a zip function's
/// runtime, handler and code folder, all three.
fn check_code_kinds(m: &manifest::Manifest) -> anyhow::Result<()> {
    let zip_parts = [m.runtime.is_some(), m.handler.is_some(), m.code.is_some()];
    let zip = zip_parts.iter().any(|given| *given);
    if zip && (m.wasm.is_some() || m.image.is_some() || m.build.is_some()) {
        bail!("a zip function (runtime, handler) takes neither wasm nor an image: give one kind of code");
    }
    if zip && zip_parts.iter().any(|given| !*given) {
        bail!("a zip function needs a runtime, a handler and its code folder (runtime and handler in skiff.toml, or --runtime, --handler and --code)");
    }
    Ok(())
}

/// Refuses, before anything is deployed, an alias naming the version this deploy publishes
/// when nothing is to be published.
fn check_aliases(m: &manifest::Manifest) -> anyhow::Result<()> {
    let publishing = m.publish == Some(true);
    for (alias, spec) in &m.aliases {
        let (version, weights, _) = spec.parts();
        let names_published = version.is_published() || weights.iter().any(|(v, _)| v.is_published());
        if names_published && !publishing {
            bail!("alias {alias} names the \"{}\" version, but nothing is published: set publish = true (or --publish)", manifest::PUBLISHED);
        }
    }
    Ok(())
}

/// Points `name:alias` as the manifest's `spec` says, `published` standing for the version
/// this deploy published.
fn point_alias(client: &Client, name: &str, alias: &str, spec: &manifest::AliasSpec, published: Option<&str>) -> anyhow::Result<serde_json::Value> {
    let (version, weights, description) = spec.parts();
    let weights = weights.iter().map(|(v, w)| Ok((v.resolve(published)?, *w))).collect::<anyhow::Result<Vec<_>>>()?;
    let routing = versions::AliasRouting { version: version.resolve(published)?, weights, description: description.map(str::to_string) };
    versions::set_alias(client, name, alias, routing).with_context(|| format!("pointing alias {alias}"))
}

/// Pushes a built image to `registry` as `skiff-fn-NAME` and returns its digest reference.
fn push_image(image: &str, registry: &str, name: &str) -> anyhow::Result<String> {
    let repo = format!("skiff-fn-{}", name.to_ascii_lowercase());
    eprintln!("pushing {image} to {registry}/{repo}");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let pushed = runtime.block_on(skiff_workers::container::push_image(image, registry, &repo)).with_context(|| format!("pushing {image} to {registry}"))?;
    eprintln!("pushed {pushed}");
    Ok(pushed)
}

/// Builds the function's image through the local engine, showing the build's output on stderr,
/// and returns its tag (`skiff-fn-NAME:latest`).
fn build_image(context: &std::path::Path, name: &str) -> anyhow::Result<String> {
    let tag = format!("skiff-fn-{}:latest", name.to_ascii_lowercase());
    eprintln!("building {tag} from {}", context.display());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let id = runtime
        .block_on(skiff_workers::container::build_image(context, &tag, |line| eprintln!("  {line}")))
        .with_context(|| format!("building the image in {}", context.display()))?;
    eprintln!("built {tag} ({id})");
    Ok(tag)
}
