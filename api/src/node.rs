//! A node of a cluster as it announces itself, and as `GET /v1/nodes` / `skiff nodes` show it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a node can take on: the memory and CPUs of its host and its execution limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capacity {
    pub memory_mib: u64,
    pub cpus: u32,
    pub max_concurrency: u32,
}

/// A node as it announces itself in the cluster's store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    pub name: String,
    /// Where other nodes (and clients) reach its gateway, e.g. `http://10.0.0.5:9000`.
    pub advertise: String,
    pub capacity: Capacity,
    /// When it last joined (ms since the epoch).
    pub joined_ms: u64,
    /// What placement constraints and spread strategies see (`--attribute zone=a`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeState {
    /// Holds a live membership lease: it gets work.
    Ready,
    /// Its lease expired (dead, paused or cut off): it gets no work until it rejoins.
    Lost,
}

impl NodeState {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeState::Ready => "ready",
            NodeState::Lost => "lost",
        }
    }
}

/// One row of `skiff nodes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeView {
    #[serde(flatten)]
    pub info: NodeInfo,
    pub state: NodeState,
    /// Executions running on it now; `None` when it could not be asked (lost, or not answering).
    pub in_flight: Option<u64>,
    /// Whether it holds the scheduler's lease: it places every service copy and task.
    #[serde(default)]
    pub scheduler: bool,
}
