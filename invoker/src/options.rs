use skiff_state::shares::ConcurrencyShares;
use skiff_workers::container::ContainerBackend;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Whether container functions (and services) can run on this server.
#[derive(Clone)]
pub enum Containers {
    Available(ContainerBackend),
    /// No usable Docker engine or agent: container functions cannot be deployed or run, and
    /// the error says why.
    Unavailable {
        reason: String,
    },
}

impl Containers {
    /// The backend, or why there is none.
    pub fn backend(&self) -> Result<&ContainerBackend, String> {
        match self {
            Containers::Available(backend) => Ok(backend),
            Containers::Unavailable { reason } => Err(reason.clone()),
        }
    }
}

/// The durable queue under asynchronous invocations and triggers.
#[derive(Clone, Debug)]
pub enum QueueChoice {
    /// RabbitMQ at this URL; Skiff's queues there are under `namespace`, this server's or
    /// cluster's id, so servers sharing a broker never take each other's events.
    RabbitMq { url: String, namespace: String },
    /// The embedded queue in the data dir.
    Embedded,
}

#[derive(Clone)]
pub struct InvokerOptions {
    pub data_dir: PathBuf,
    /// Executions allowed at once across all functions.
    pub max_concurrency: u32,
    pub containers: Containers,
    /// How long an idle container is kept warm.
    pub keep_warm: Duration,
    pub queue: QueueChoice,
    /// How long the status of an asynchronous invocation is kept, and at most how many.
    pub status_retention: Duration,
    pub status_max_records: u64,
    /// The region in ARNs (destination records, container environments).
    pub region: String,
    /// A cluster node's name, put as a `node` label on every metric; `None` on a single node.
    pub node_label: Option<String>,
    /// This node's part of each function's reserved concurrency.
    pub shares: Arc<dyn ConcurrencyShares>,
    /// The key messages in Skiff's own queues are signed with: what fails the check was not
    /// enqueued by this server (or cluster) and is dead-lettered unrun.
    pub queue_key: [u8; 32],
    /// Where `X-Callback-Url` callbacks may be sent beyond public addresses.
    pub callback_policy: crate::callback_policy::CallbackPolicy,
    /// Where deploys compile Wasm: a limited child process of the server's binary.
    pub compiler: skiff_workers::wasm::Compiler,
}
