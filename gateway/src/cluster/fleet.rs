//! The fleet of a cluster node: the ready nodes from the membership view, this node's own agent
//! directly, every other node's agent through the internal channel (`/internal/v1/copies`).

use super::copies::{CopyLogs, StartedTask, Stopped, STOPPED_POLL};
use reqwest::Method;
use skiff_api::NodeInfo;
use skiff_cluster::peers::{PeerError, COPIES_PATH, TASKS_PATH};
use skiff_cluster::{Membership, Peers};
use skiff_services::fleet::agent::Agent;
use skiff_services::fleet::{CopyHost, CopyOrder, FoundCopy, Fleet, ReapOrder, Reaped, StartedCopy, StopOrder, TaskOrder};
use skiff_services::ServiceError;
use std::sync::Arc;
use std::time::Duration;

/// How long an order may take: starting a copy includes pulling its image.
const ORDER_TIMEOUT: Duration = Duration::from_secs(120);
const QUERY_TIMEOUT: Duration = Duration::from_secs(10);

pub struct ClusterFleet {
    members: Membership,
    peers: Peers,
    local: Arc<Agent>,
}

impl ClusterFleet {
    pub fn new(members: Membership, peers: Peers, local: Arc<Agent>) -> Self {
        Self { members, peers, local }
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
}

/// Another node's agent.
struct RemoteHost {
    node: NodeInfo,
    peers: Peers,
}

impl RemoteHost {
    async fn call<B: serde::Serialize + Sync, R: serde::de::DeserializeOwned>(&self, method: Method, path: &str, body: Option<&B>, within: Duration) -> Result<R, ServiceError> {
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
