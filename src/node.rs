//! `skiff server`'s cluster flags and what they make: this node's identity, and — with
//! `--etcd` — its membership and the cluster adapters of the store, blob and lease ports.

use anyhow::{bail, Context};
use clap::Args;
use skiff_api::{Capacity, NodeInfo};
use skiff_cluster::blobs::ClusterBlobs;
use skiff_cluster::etcd::config::EtcdConfigStore;
use skiff_cluster::etcd::Etcd;
use skiff_cluster::leases::EtcdLeases;
use skiff_cluster::shares::MemberShares;
use skiff_cluster::{ClusterSecret, MemberOptions, Membership, Peers};
use skiff_gateway::ClusterGateway;
use skiff_state::blobs::BlobStore;
use skiff_state::config::ConfigStore;
use skiff_state::lease::Leases;
use skiff_state::shares::ConcurrencyShares;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

#[derive(Args)]
pub struct ClusterArgs {
    /// etcd endpoints (comma-separated): run as one node of a cluster that keeps its state there.
    #[arg(long, env = "SKIFF_ETCD", value_delimiter = ',')]
    etcd: Vec<String>,
    /// This node's name, unique in the cluster (default: the host name).
    #[arg(long, env = "SKIFF_NODE")]
    node: Option<String>,
    /// The URL other nodes reach this node's gateway at (default: http://<listen address>).
    #[arg(long, env = "SKIFF_ADVERTISE")]
    advertise: Option<String>,
    /// Authenticates node-to-node requests; every node of a cluster needs the same one.
    #[arg(long, env = "SKIFF_CLUSTER_SECRET", hide_env_values = true)]
    cluster_secret: Option<String>,
    /// Seconds a node stays a member without reaching etcd; then its work goes elsewhere.
    #[arg(long, env = "SKIFF_LEASE_TTL", default_value_t = 10)]
    lease_ttl: u64,
    /// Key prefix in etcd, so clusters (or test runs) can share one etcd.
    #[arg(long, env = "SKIFF_ETCD_PREFIX", default_value = "/skiff/")]
    etcd_prefix: String,
    /// A node attribute placement constraints and spread strategies see, NAME=VALUE
    /// (repeatable), e.g. `--attribute zone=a`.
    #[arg(long = "attribute", value_parser = parse_attribute)]
    attributes: Vec<(String, String)>,
    /// Memory (MiB) service copies and tasks may be placed into on this node (default: the
    /// host's memory).
    #[arg(long, env = "SKIFF_CAPACITY_MEMORY")]
    capacity_memory: Option<u64>,
    /// What this node does with its service copies when cut off from etcd longer than its
    /// lease: `stop` them (the scheduler has replaced them elsewhere), or `keep` them serving.
    #[arg(long, env = "SKIFF_ON_DISCONNECT", value_enum, default_value_t = OnDisconnect::Stop)]
    pub on_disconnect: OnDisconnect,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnDisconnect {
    Stop,
    Keep,
}

fn parse_attribute(s: &str) -> Result<(String, String), String> {
    skiff_api::placement::parse_attribute(s).map_err(|e| e.to_string())
}

/// What the server composes from the cluster flags.
pub struct Cluster {
    pub store: Arc<dyn ConfigStore>,
    pub shares: Arc<dyn ConcurrencyShares>,
    pub leases: Arc<dyn Leases>,
    pub blobs: Arc<ClusterBlobs>,
    pub gateway: ClusterGateway,
}

impl ClusterArgs {
    /// The key access-key secrets are sealed under, derived from the cluster secret, which
    /// every node has and which is never in etcd. `None` off a cluster.
    pub fn secrets_key(&self) -> Option<[u8; 32]> {
        use sha2::Digest as _;
        let secret = self.cluster_secret.as_deref().filter(|_| self.enabled())?;
        Some(sha2::Sha256::digest(format!("skiff access-key secrets\0{secret}")).into())
    }

    /// The cluster's namespace on the message broker: the same on every node (it derives from
    /// the secret and the etcd prefix they share), different for another cluster.
    pub fn queue_namespace(&self) -> Option<String> {
        use sha2::Digest as _;
        let secret = self.cluster_secret.as_deref().filter(|_| self.enabled())?;
        let digest = sha2::Sha256::digest(format!("skiff queue namespace\0{secret}\0{}", self.etcd_prefix));
        Some(format!("c{}", &hex::encode(digest)[..12]))
    }

    pub fn enabled(&self) -> bool {
        !self.etcd.is_empty()
    }

    /// Refuses settings a cluster node must not run with.
    pub fn check(&self, listen: SocketAddr, token: Option<&str>) -> anyhow::Result<()> {
        if !self.enabled() {
            return Ok(());
        }
        if self.cluster_secret.as_deref().is_none_or(str::is_empty) {
            bail!("a cluster node needs --cluster-secret (or SKIFF_CLUSTER_SECRET): it authenticates node-to-node requests");
        }
        if !listen.ip().is_loopback() && token.is_none() {
            bail!("refusing to join a cluster on non-loopback address {listen} without an auth token (set --token)");
        }
        if self.lease_ttl < 2 {
            bail!("--lease-ttl must be at least 2 seconds");
        }
        if let Some(name) = &self.node {
            skiff_api::names::check_service_name(name).map_err(|e| anyhow::anyhow!("invalid --node {name:?}: {e}"))?;
        }
        Ok(())
    }

    pub fn identity(&self, listen: SocketAddr, max_concurrency: u32) -> NodeInfo {
        let name = self.node.clone().unwrap_or_else(host_name);
        let advertise = self.advertise.clone().unwrap_or_else(|| format!("http://{listen}"));
        let mut capacity = capacity(max_concurrency);
        if let Some(memory) = self.capacity_memory {
            capacity.memory_mib = memory;
        }
        NodeInfo { name, advertise, capacity, joined_ms: 0, attributes: self.attributes.iter().cloned().collect() }
    }

    /// The address copies' ports are published on: the advertised host, when it is an IP
    /// address, else the listen address.
    pub fn publish_address(&self, me: &NodeInfo, listen: SocketAddr) -> std::net::IpAddr {
        let host = me.advertise.split("://").nth(1).unwrap_or(&me.advertise).split('/').next().unwrap_or_default();
        let host = host.rsplit_once(':').map_or(host, |(h, _)| h).trim_matches(|c| c == '[' || c == ']');
        host.parse().unwrap_or(listen.ip())
    }

    /// Connects to etcd, joins the cluster as `me`, and makes the cluster adapters.
    pub async fn join(&self, me: NodeInfo, local_blobs: Arc<dyn BlobStore>) -> anyhow::Result<Cluster> {
        let etcd = Etcd::connect(&self.etcd, &self.etcd_prefix).await.context("connecting to etcd")?;
        let options = MemberOptions { me, ttl: Duration::from_secs(self.lease_ttl) };
        let members = Membership::join(etcd.clone(), options).await.context("joining the cluster")?;
        let secret = ClusterSecret::new(self.cluster_secret.clone().unwrap_or_default());
        let peers = Peers::new(secret.clone());
        let blobs = Arc::new(ClusterBlobs::new(local_blobs, members.clone(), peers.clone()));
        Ok(Cluster {
            store: Arc::new(EtcdConfigStore::new(etcd)),
            shares: Arc::new(MemberShares::new(members.clone())),
            leases: Arc::new(EtcdLeases::new(members.clone())),
            blobs: blobs.clone(),
            gateway: ClusterGateway { members, secret, peers, blobs },
        })
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "skiff".into())
}

/// The host's memory and CPUs, and this node's execution limit.
fn capacity(max_concurrency: u32) -> Capacity {
    let memory_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().find(|l| l.starts_with("MemTotal:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok()))
        .unwrap_or(0);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
    Capacity { memory_mib: memory_kib / 1024, cpus, max_concurrency }
}
