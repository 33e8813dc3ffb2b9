//! The fleet of a cluster node: the ready nodes from the membership view, this node's own agent
//! directly, every other node's agent through the internal channel (`/internal/v1/copies`), and
//! the other nodes' `/svc` load for target tracking (asked for only while the scheduler reads it).

use super::copies::{CopyLogs, StartedTask, Stopped, STOPPED_POLL};
use reqwest::Method;
use skiff_api::NodeInfo;
use skiff_cluster::peers::{PeerError, COPIES_PATH, TASKS_PATH};
use skiff_cluster::{Membership, Peers};
use skiff_services::fleet::agent::Agent;
use skiff_services::fleet::{CopyHost, CopyOrder, Fleet, FoundCopy, ReapOrder, Reaped, StartedCopy, StopOrder, TaskOrder};
use skiff_services::ServiceError;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long an order may take: starting a copy includes pulling its image.
const ORDER_TIMEOUT: Duration = Duration::from_secs(120);
const QUERY_TIMEOUT: Duration = Duration::from_secs(10);

/// How often the other nodes' `/svc` loads are asked for, while someone wants them.
const LOAD_EVERY: Duration = Duration::from_millis(500);
/// Loads stop being asked for this long after the last reader (no autoscaled service here).
const LOAD_INTEREST: Duration = Duration::from_secs(5);

pub struct ClusterFleet {
    members: Membership,
    peers: Peers,
    local: Arc<Agent>,
    loads: Arc<Loads>,
}

/// The other nodes' `/svc` requests in flight per service, as last asked.
#[derive(Default)]
struct Loads {
    per_node: Mutex<HashMap<String, BTreeMap<String, u64>>>,
    /// When a reader last wanted them.
    wanted: Mutex<Option<Instant>>,
}

impl ClusterFleet {
    pub fn new(members: Membership, peers: Peers, local: Arc<Agent>) -> Self {
        let loads = Arc::new(Loads::default());
        tokio::spawn(follow_loads(members.clone(), peers.clone(), Arc::downgrade(&loads)));
        Self { members, peers, local, loads }
    }
}

/// Asks every other ready node for its load every [`LOAD_EVERY`] while the loads are wanted,
/// until the fleet is gone.
async fn follow_loads(members: Membership, peers: Peers, loads: std::sync::Weak<Loads>) {
    let mut tick = tokio::time::interval(LOAD_EVERY);
    loop {
        tick.tick().await;
        let Some(loads) = loads.upgrade() else { return };
        let wanted = loads.wanted.lock().expect("loads lock").is_some_and(|at| at.elapsed() < LOAD_INTEREST);
        if !wanted {
            continue;
        }
        let me = members.me().name.clone();
        let others: Vec<NodeInfo> = members.ready().iter().filter(|n| n.name != me).cloned().collect();
        let asked = others.iter().map(|n| async { (n.name.clone(), peers.load(n, LOAD_EVERY).await) });
        let mut fresh = HashMap::new();
        for (node, load) in futures_util::future::join_all(asked).await {
            if let Ok(load) = load {
                fresh.insert(node, load.services);
            }
        }
        *loads.per_node.lock().expect("loads lock") = fresh;
    }
}

impl Fleet for ClusterFleet {
    fn ready(&self) -> Vec<NodeInfo> {
        self.members.ready().to_vec()
    }

    fn host(&self, node: &str) -> Option<Arc<dyn CopyHost>> {
        if node == self.members.me().name {
            return Some(self.local.clone());
        }
        let info = self.members.ready().iter().find(|n| n.name == node)?.clone();
        Some(Arc::new(RemoteHost { node: info, peers: self.peers.clone() }))
    }

    fn others_in_flight(&self, service: &str) -> usize {
        *self.loads.wanted.lock().expect("loads lock") = Some(Instant::now());
        self.loads.per_node.lock().expect("loads lock").values().filter_map(|m| m.get(service)).sum::<u64>() as usize
    }
}

/// Another node's agent.
struct RemoteHost {
    node: NodeInfo,
    peers: Peers,
}

impl RemoteHost {
    async fn call<B: serde::Serialize + Sync, R: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        within: Duration,
    ) -> Result<R, ServiceError> {
        self.peers.call_json(&self.node, method, path, body, within).await.map_err(|e| node_error(&self.node, e))
    }
}

/// A peer's failure as the scheduler sees it: a refused fence comes back as such.
fn node_error(node: &NodeInfo, e: PeerError) -> ServiceError {
    match e {
        PeerError::Status { status: 409, body, .. } => ServiceError::Node { node: node.name.clone(), message: format!("refused: {body}"), unreachable: false },
        PeerError::Status { status, body, .. } => ServiceError::Node { node: node.name.clone(), message: format!("{status}: {body}"), unreachable: false },
        PeerError::Request { source, .. } => ServiceError::Node { node: node.name.clone(), message: source.to_string(), unreachable: true },
    }
}

#[async_trait::async_trait]
impl CopyHost for RemoteHost {
    async fn start(&self, order: &CopyOrder) -> Result<StartedCopy, ServiceError> {
        self.call(Method::POST, COPIES_PATH, Some(order), ORDER_TIMEOUT).await
    }

    async fn run_task(&self, order: &TaskOrder) -> Result<String, ServiceError> {
        let started: StartedTask = self.call(Method::POST, TASKS_PATH, Some(order), ORDER_TIMEOUT).await?;
        Ok(started.container_id)
    }

    async fn reap_task(&self, order: &ReapOrder) -> Result<Reaped, ServiceError> {
        self.call(Method::POST, &format!("{TASKS_PATH}/reap"), Some(order), ORDER_TIMEOUT).await
    }

    async fn stop(&self, order: &StopOrder) -> Result<(), ServiceError> {
        let _: serde_json::Value = self.call(Method::POST, &format!("{COPIES_PATH}/{}/stop", order.id), Some(order), ORDER_TIMEOUT).await?;
        Ok(())
    }

    async fn list(&self, service: &str) -> Result<Vec<FoundCopy>, ServiceError> {
        self.call::<(), _>(Method::GET, &format!("{COPIES_PATH}?service={service}"), None, QUERY_TIMEOUT).await
    }

    async fn wait_stopped(&self, id: &str) -> Result<(), ServiceError> {
        loop {
            let answer: Stopped = self.call::<(), _>(Method::GET, &format!("{COPIES_PATH}/{id}/stopped"), None, STOPPED_POLL + QUERY_TIMEOUT).await?;
            if answer.stopped {
                return Ok(());
            }
        }
    }

    async fn logs(&self, id: &str, tail: usize) -> Result<String, ServiceError> {
        let answer: CopyLogs = self.call::<(), _>(Method::GET, &format!("{COPIES_PATH}/{id}/logs?tail={tail}"), None, QUERY_TIMEOUT).await?;
        Ok(answer.logs)
    }
}
