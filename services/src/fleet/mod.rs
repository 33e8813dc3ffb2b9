//! The nodes copies run on, as the scheduler sees them. The scheduler decides; each node's
//! [`Agent`](agent::Agent) carries out the orders on its own engine. Orders reach an agent
//! through a [`CopyHost`]: the agent itself on this node, or the internal channel to another
//! node's agent (the gateway's cluster side implements that one). A single node is a fleet of
//! one ([`LocalFleet`]).
//!
//! Every order that changes what runs carries the scheduler's [`Fence`]; an agent refuses an
//! order whose term is over, so a scheduler paused past its lease can wake up and send orders
//! without anything happening.

pub mod agent;

use crate::error::ServiceError;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use skiff_api::service::ServiceSpec;
use skiff_api::taskdef::TaskDefinition;
use skiff_api::NodeInfo;
use skiff_state::lease::Fence;
use skiff_workers::service::ContainerExit;
use std::net::SocketAddr;
use std::sync::Arc;

/// Start one copy of a service's revision.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CopyOrder {
    pub fence: Fence,
    pub service: String,
    pub revision: u64,
    /// Which life of the service name (its creation time).
    pub incarnation: u64,
    pub spec: ServiceSpec,
}

/// Stop and remove one copy.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StopOrder {
    pub fence: Fence,
    pub id: String,
    /// SIGTERM-to-SIGKILL grace.
    pub grace_s: i32,
}

/// A copy an agent started: its container and where it is reached.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StartedCopy {
    pub id: String,
    pub address: SocketAddr,
}

/// A copy an agent found on its engine.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FoundCopy {
    pub id: String,
    pub revision: u64,
    pub incarnation: u64,
    pub running: bool,
    pub address: Option<SocketAddr>,
}

/// Start a one-off task's containers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskOrder {
    pub fence: Fence,
    pub task_id: String,
    pub definition: TaskDefinition,
}

/// End a task (or collect one that ended): stop its containers, read how each ended and what
/// they printed, and remove them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReapOrder {
    pub fence: Fence,
    pub container_id: String,
    pub grace_s: i32,
}

/// What a reaped task left.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reaped {
    pub containers: Vec<ContainerExit>,
    pub logs: String,
}

/// One node's engine, as the scheduler gives it orders.
#[async_trait]
pub trait CopyHost: Send + Sync {
    /// Starts a task; its holder container's id.
    async fn run_task(&self, order: &TaskOrder) -> Result<String, ServiceError>;
    async fn reap_task(&self, order: &ReapOrder) -> Result<Reaped, ServiceError>;
    async fn start(&self, order: &CopyOrder) -> Result<StartedCopy, ServiceError>;
    async fn stop(&self, order: &StopOrder) -> Result<(), ServiceError>;
    /// The copies of `service` on the node, running or not.
    async fn list(&self, service: &str) -> Result<Vec<FoundCopy>, ServiceError>;
    /// Resolves `Ok` once the copy is no longer running; `Err` if the node could not tell
    /// (unreachable): the caller asks again or gives the node up.
    async fn wait_stopped(&self, id: &str) -> Result<(), ServiceError>;
    async fn logs(&self, id: &str, tail: usize) -> Result<String, ServiceError>;
}

/// The nodes the scheduler may place on.
pub trait Fleet: Send + Sync {
    /// The nodes that are ready now.
    fn ready(&self) -> Vec<NodeInfo>;
    /// How to give orders to `node`, while it is ready.
    fn host(&self, node: &str) -> Option<Arc<dyn CopyHost>>;
    /// `/svc` requests to `service` the other nodes were proxying when last asked (target
    /// tracking adds them to this node's own).
    fn others_in_flight(&self, service: &str) -> usize {
        let _ = service;
        0
    }
}

/// A single node: every copy runs here.
pub struct LocalFleet {
    pub me: NodeInfo,
    pub agent: Arc<agent::Agent>,
}

impl Fleet for LocalFleet {
    fn ready(&self) -> Vec<NodeInfo> {
        vec![self.me.clone()]
    }

    fn host(&self, node: &str) -> Option<Arc<dyn CopyHost>> {
        (node == self.me.name).then(|| self.agent.clone() as Arc<dyn CopyHost>)
    }
}
