//! `skiff server`: the composition root. Opens the invoker on the data dir, binds the gateway,
//! and runs until SIGINT/SIGTERM, then drains.

use crate::node::{ClusterArgs, OnDisconnect};
use anyhow::{bail, Context};
use clap::Args;
use skiff_api::NodeInfo;
use skiff_gateway::{ClusterFleet, ClusterGateway};
use skiff_gateway::{ConnectionLimits, GatewayOptions};
use skiff_invoker::{CallbackPolicy, Containers, Invoker, InvokerOptions, QueueChoice};
use skiff_services::fleet::LocalFleet;
use skiff_services::{FleetMaker, Services, StartOptions};
use skiff_state::blobs::{BlobStore, LocalBlobs};
use skiff_state::config::{ConfigStore, LocalConfigStore};
use skiff_state::lease::{Leases, LocalLeases};
use skiff_state::shares::{ConcurrencyShares, WholeShare};
use skiff_workers::container::{agent_near, BackendOptions, BudgetLimits, ContainerBackend};
use skiff_workers::wasm::{CompileLimits, Compiler};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(Args)]
pub struct ServerArgs {
    /// Address to listen on. Non-loopback addresses require --token.
    #[arg(long, env = "SKIFF_LISTEN", default_value = "127.0.0.1:9000")]
    listen: SocketAddr,
    /// Where deployments, code and compiled artifacts are kept.
    #[arg(long, env = "SKIFF_DATA_DIR", default_value = "./.skiff")]
    data_dir: PathBuf,
    /// RabbitMQ URL for asynchronous invocations (embedded queue when absent).
    #[arg(long, env = "SKIFF_AMQP_URL")]
    amqp_url: Option<String>,
    /// Executions allowed at once across all functions; calls beyond it get 429.
    #[arg(long, env = "SKIFF_MAX_CONCURRENCY", default_value_t = 256)]
    max_concurrency: u32,
    /// Seconds in-flight requests may take to finish after a shutdown signal.
    #[arg(long, default_value_t = 30)]
    drain_timeout: u64,
    /// Client connections open at once; more wait in the listen backlog.
    #[arg(long, env = "SKIFF_MAX_CONNECTIONS", default_value_t = 4096)]
    max_connections: usize,
    /// Seconds a new connection may take to send its first request's headers.
    #[arg(long, default_value_t = 10)]
    header_read_timeout: u64,
    /// Seconds a connection with no request in flight is kept open after its last one.
    #[arg(long, default_value_t = 60)]
    idle_timeout: u64,
    /// Threads that serve client connections while their requests go to services (`/svc`),
    /// each with its own event loop, as nginx's workers; 0 serves them on the main runtime.
    /// Default: one per core.
    #[arg(long, env = "SKIFF_CONNECTION_THREADS")]
    connection_threads: Option<usize>,
    /// Where `X-Callback-Url` callbacks may go besides public addresses: a CIDR block, an
    /// address or a host name (repeatable, or comma-separated in the variable). Loopback,
    /// link-local and private addresses are refused unless allowed here.
    #[arg(long = "callback-allow", value_name = "CIDR|HOST", env = "SKIFF_CALLBACK_ALLOW", value_delimiter = ',')]
    callback_allow: Vec<String>,
    /// Seconds an idle function container is kept warm before it is removed.
    #[arg(long, env = "SKIFF_KEEP_WARM", default_value_t = 600)]
    keep_warm: u64,
    /// Seconds a container's runtime may take from start to asking for its first event.
    #[arg(long, default_value_t = 10)]
    init_timeout: u64,
    /// MiB the memory limits of all function containers together may add up to (default: three
    /// quarters of the machine's memory). A start past it evicts idle containers, else gets 429.
    #[arg(long, env = "SKIFF_CONTAINER_MEMORY_BUDGET_MB", value_parser = clap::value_parser!(u64).range(1..))]
    container_memory_budget_mb: Option<u64>,
    /// Processes the pids limits of all function containers together may add up to (default:
    /// three quarters of the kernel's `pid_max`; each container may run 1024).
    #[arg(long, env = "SKIFF_CONTAINER_PIDS_BUDGET", value_parser = clap::value_parser!(u64).range(1..))]
    container_pids_budget: Option<u64>,
    /// CPU seconds one deploy's Wasm compile may take (all compiler threads together); code that
    /// needs more is refused with 400.
    #[arg(long, env = "SKIFF_COMPILE_CPU_LIMIT_S", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    compile_cpu_limit_s: u64,
    /// MiB of memory one deploy's Wasm compile may take; code that needs more is refused with 400.
    #[arg(long, env = "SKIFF_COMPILE_MEMORY_LIMIT_MB", default_value_t = 2048, value_parser = clap::value_parser!(u64).range(64..))]
    compile_memory_limit_mb: u64,
    /// The static skiff-agent binary mounted into function containers (default:
    /// `skiff-agent-static` beside this binary, else `../<arch>-unknown-linux-gnu/release/skiff-agent`
    /// relative to it, where scripts/build-functions.sh builds it).
    #[arg(long, env = "SKIFF_AGENT")]
    agent: Option<PathBuf>,
    /// Seconds the status of an asynchronous invocation is kept.
    #[arg(long, env = "SKIFF_STATUS_RETENTION", default_value_t = 86_400)]
    status_retention: u64,
    /// At most this many asynchronous invocation records are kept (oldest dropped first).
    #[arg(long, default_value_t = 1_000_000)]
    status_max_records: u64,
    /// AWS_REGION as container functions see it.
    #[arg(long, env = "SKIFF_REGION", default_value = "us-east-1")]
    region: String,
    /// A file of 64 hex digits (32 bytes): the key access keys' secrets are sealed under. Default: derived
    /// from --cluster-secret on a cluster, else `secrets.key` in the data dir (made on first
    /// start). Keep it out of backups of the state it protects.
    #[arg(long, env = "SKIFF_SECRETS_KEY_FILE")]
    secrets_key_file: Option<PathBuf>,
    #[command(flatten)]
    cluster: ClusterArgs,
}

pub fn run(args: ServerArgs, token: Option<String>) -> anyhow::Result<ExitCode> {
    // bollard logs the bodies it sends at debug level, and container create bodies hold the
    // functions' env values (users' secrets): whatever SKIFF_LOG asks, bollard says no more
    // than warnings.
    let filter = tracing_subscriber::EnvFilter::try_from_env("SKIFF_LOG").unwrap_or_else(|_| "info".into());
    let filter = filter.add_directive("bollard=warn".parse().expect("a valid directive"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    if !args.listen.ip().is_loopback() && token.is_none() {
        bail!("refusing to listen on non-loopback address {} without an auth token (set --token or SKIFF_TOKEN)", args.listen);
    }
    if args.max_concurrency == 0 {
        bail!("--max-concurrency must be at least 1");
    }
    if args.max_connections == 0 || args.header_read_timeout == 0 || args.idle_timeout == 0 {
        bail!("--max-connections, --header-read-timeout and --idle-timeout must be at least 1");
    }
    if args.init_timeout == 0 {
        bail!("--init-timeout must be at least 1 second");
    }
    args.cluster.check(args.listen, token.as_deref())?;
    let callback_policy = CallbackPolicy::parse(&args.callback_allow).map_err(anyhow::Error::msg)?;
    // Everything the server writes (databases with users' env values, results, blobs, keys)
    // is its own: files 0600, directories 0700, whatever the caller's umask.
    // SAFETY: umask has no preconditions; it is set before any thread exists.
    unsafe { libc::umask(0o077) };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
    runtime.block_on(async move {
        private_dir(&args.data_dir).with_context(|| format!("creating data dir {}", args.data_dir.display()))?;
        let containers = match connect_docker(&args).await {
            Ok(backend) => Containers::Available(backend),
            Err(reason) => {
                tracing::info!("container functions disabled: {reason}");
                Containers::Unavailable { reason }
            }
        };
        let opening = || format!("opening data dir {}", args.data_dir.display());
        // Bound first: a node announces the address it really listens on (port 0 included).
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("binding {}", args.listen))?;
        let addr = listener.local_addr()?;
        let node = args.cluster.identity(addr, args.max_concurrency);
        let Backing { store, blobs, leases, shares, cluster } = backing(&args, &node).await?;
        let secrets_key = secrets_key(&args)?;
        let auth = Arc::new(skiff_gateway::Auth::start(token.clone(), store.clone(), &secrets_key, args.region.clone()).await.context("loading access keys")?);
        let services = Services::new(store.clone(), leases, &args.region);
        let queue = match &args.amqp_url {
            Some(url) => {
                let namespace = match args.cluster.queue_namespace() {
                    Some(cluster) => cluster,
                    None => owner_id(&args.data_dir).context("reading the server's id")?[..12].to_string(),
                };
                QueueChoice::RabbitMq { url: url.clone(), namespace }
            }
            None => QueueChoice::Embedded,
        };
        let queue_key = derived_key("skiff queue messages", &secrets_key);
        let invoker = Invoker::open(
            InvokerOptions {
                data_dir: args.data_dir.clone(),
                max_concurrency: args.max_concurrency,
                containers: containers.clone(),
                keep_warm: Duration::from_secs(args.keep_warm),
                queue,
                status_retention: Duration::from_secs(args.status_retention),
                status_max_records: args.status_max_records,
                region: args.region.clone(),
                node_label: cluster.as_ref().map(|_| node.name.clone()),
                shares,
                callback_policy,
                queue_key,
                compiler: compiler(&args)?,
            },
            store,
            blobs,
        )
        .await
        .with_context(opening)?;
        if !invoker.events().queue_ready(Duration::from_secs(10)).await {
            tracing::warn!("RabbitMQ is not reachable yet: asynchronous invocations get 503 until it is");
        }
        let publish = cluster.as_ref().map(|_| args.cluster.publish_address(&node, addr));
        let fleet: FleetMaker = match &cluster {
            Some(c) => {
                let (members, peers) = (c.members.clone(), c.peers.clone());
                Box::new(move |agent| Arc::new(ClusterFleet::new(members, peers, agent)))
            }
            None => {
                let me = node.clone();
                Box::new(move |agent| Arc::new(LocalFleet { me, agent }))
            }
        };
        let engine = containers.backend().cloned();
        services.start(StartOptions { engine, publish, fleet }).await;
        if let (Some(c), OnDisconnect::Stop) = (&cluster, args.cluster.on_disconnect) {
            stop_copies_when_cut_off(c.members.lease(), services.clone());
        }
        invoker.warm_up().await;
        // The first stdout line is the contract tests and scripts wait for.
        println!("skiff listening on http://{addr}");
        std::io::stdout().flush()?;
        tracing::info!(%addr, node = %node.name, data_dir = %args.data_dir.display(), functions = invoker.list().len(), queue = invoker.events().queue_backend().as_str(), "serving");
        let members = cluster.as_ref().map(|c| c.members.clone());
        let limits = ConnectionLimits {
            max_connections: args.max_connections,
            header_read_timeout: Duration::from_secs(args.header_read_timeout),
            idle_timeout: Duration::from_secs(args.idle_timeout),
        };
        let drain_timeout = Duration::from_secs(args.drain_timeout);
        let connection_threads = args.connection_threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
        let options = GatewayOptions { auth, drain_timeout, node, cluster, region: args.region.clone(), limits, connection_threads };
        skiff_gateway::serve(listener, invoker.clone(), services.clone(), options, shutdown_signal()).await?;
        if let Some(members) = members {
            members.leave().await;
        }
        services.shutdown().await;
        invoker.shutdown().await;
        Ok(ExitCode::SUCCESS)
    })
}

/// Where the server keeps its state: on a cluster, etcd and the cluster's blobs with its leases
/// and concurrency shares; alone, the data dir, with every lease and the whole concurrency its
/// own.
struct Backing {
    store: Arc<dyn ConfigStore>,
    blobs: Arc<dyn BlobStore>,
    leases: Arc<dyn Leases>,
    shares: Arc<dyn ConcurrencyShares>,
    /// `None` off a cluster.
    cluster: Option<ClusterGateway>,
}

/// Joins the cluster (as `node`) when one is configured, else opens the data dir.
async fn backing(args: &ServerArgs, node: &NodeInfo) -> anyhow::Result<Backing> {
    let opening = || format!("opening data dir {}", args.data_dir.display());
    let local_blobs: Arc<dyn BlobStore> = Arc::new(LocalBlobs::open(&args.data_dir).with_context(opening)?);
    if args.cluster.enabled() {
        let joined = args.cluster.join(node.clone(), local_blobs).await?;
        return Ok(Backing { store: joined.store, blobs: joined.blobs, leases: joined.leases, shares: joined.shares, cluster: Some(joined.gateway) });
    }
    let store = Arc::new(LocalConfigStore::open(&args.data_dir).with_context(opening)?);
    Ok(Backing { store, blobs: local_blobs, leases: Arc::new(LocalLeases), shares: Arc::new(WholeShare), cluster: None })
}

/// The key access keys' secrets are sealed under: see `--secrets-key-file`.
/// A key for one purpose, derived from the secrets key (so it needs no file of its own and is
/// the same on every node of a cluster).
fn derived_key(purpose: &str, secrets_key: &[u8; 32]) -> [u8; 32] {
    use sha2::Digest as _;
    let mut hash = sha2::Sha256::new();
    hash.update(purpose.as_bytes());
    hash.update([0]);
    hash.update(secrets_key);
    hash.finalize().into()
}

fn secrets_key(args: &ServerArgs) -> anyhow::Result<[u8; 32]> {
    if let Some(path) = &args.secrets_key_file {
        let text = std::fs::read(path).with_context(|| format!("reading the secrets key {}", path.display()))?;
        return parse_key(&text).with_context(|| format!("{}: expected 64 hex digits", path.display()));
    }
    if let Some(key) = args.cluster.secrets_key() {
        return Ok(key);
    }
    let path = args.data_dir.join("secrets.key");
    if !path.exists() {
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut key = [0u8; 32];
        std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom")?, &mut key)?;
        let mut file =
            std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path).with_context(|| format!("creating {}", path.display()))?;
        file.write_all(hex::encode(key).as_bytes())?;
        file.sync_all()?;
    }
    let text = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    parse_key(&text).with_context(|| format!("{} is not a secrets key", path.display()))
}

fn parse_key(text: &[u8]) -> anyhow::Result<[u8; 32]> {
    let bytes = hex::decode(text.trim_ascii())?;
    bytes.try_into().map_err(|_| anyhow::anyhow!("wrong length"))
}

/// Stops this node's service copies whenever it loses its membership lease (cut off from etcd
/// longer than its TTL): by then the scheduler has placed replacements on other nodes.
fn stop_copies_when_cut_off(mut lease: tokio::sync::watch::Receiver<Option<i64>>, services: Services) {
    tokio::spawn(async move {
        loop {
            if lease.wait_for(Option::is_none).await.is_err() {
                return;
            }
            if let Ok(agent) = services.agent() {
                agent.stop_all().await;
            }
            if lease.wait_for(Option::is_some).await.is_err() {
                return;
            }
        }
    });
}

/// The Docker backend, if an engine answers and the agent is usable; otherwise why not.
async fn connect_docker(args: &ServerArgs) -> Result<ContainerBackend, String> {
    let agent = match &args.agent {
        Some(path) => path.clone(),
        None => agent_near(&std::env::current_exe().map_err(|e| e.to_string())?),
    };
    let options = BackendOptions {
        agent,
        run_dir: args.data_dir.join("run"),
        owner: owner_id(&args.data_dir).map_err(|e| format!("owner id: {e}"))?,
        region: args.region.clone(),
        init_timeout: Duration::from_secs(args.init_timeout),
        budget: container_budget(args),
    };
    ContainerBackend::connect(options).await.map_err(|e| e.to_string())
}

/// Deploys compile in a child process of this binary, under the configured limits.
fn compiler(args: &ServerArgs) -> anyhow::Result<Compiler> {
    let exe = std::env::current_exe().context("locating this binary to run the Wasm compiler")?;
    let limits = CompileLimits { cpu_seconds: args.compile_cpu_limit_s, memory_mib: args.compile_memory_limit_mb };
    Ok(Compiler::Subprocess { exe, limits })
}

/// The host budget for function containers: the machine's, with what the operator set instead.
fn container_budget(args: &ServerArgs) -> BudgetLimits {
    let machine = BudgetLimits::from_machine();
    BudgetLimits { memory_mib: args.container_memory_budget_mb.unwrap_or(machine.memory_mib), pids: args.container_pids_budget.unwrap_or(machine.pids) }
}

/// Creates the data dir, or makes an existing one (from before the umask) private again.
fn private_dir(path: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
}

/// A random id made once per data dir: it labels this server's containers, so a restart finds
/// (and only touches) its own.
fn owner_id(data_dir: &std::path::Path) -> std::io::Result<String> {
    let path = data_dir.join("owner-id");
    match std::fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => Ok(id.trim().to_string()),
        _ => {
            let id = uuid::Uuid::new_v4().simple().to_string();
            std::fs::write(&path, &id)?;
            Ok(id)
        }
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("installing SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
