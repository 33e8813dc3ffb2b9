//! One copy of a service as its reconciler tracks it.

use crate::endpoints::Endpoint;
use skiff_api::{CopyState, EndpointView};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Phase {
    Starting,
    Healthy,
    Draining { since: Instant },
}

pub(super) struct Copy {
    pub(super) id: String,
    /// The node it runs on.
    pub(super) node: String,
    pub(super) revision: u64,
    pub(super) addr: Option<SocketAddr>,
    pub(super) phase: Phase,
    pub(super) passes: u32,
    pub(super) fails: u32,
    pub(super) started: Instant,
    pub(super) next_probe: Instant,
    /// Was healthy at some point (adopted copies count as such): its failure is not a crash loop.
    pub(super) proven: bool,
    pub(super) adopted: bool,
    pub(super) endpoint: Option<Arc<Endpoint>>,
}

impl Copy {
    /// A copy that has just started, or was found running (`adopted`, which counts as proven).
    pub(super) fn new(id: String, node: String, revision: u64, addr: SocketAddr, adopted: bool) -> Self {
        let now = Instant::now();
        Self {
            id,
            node,
            revision,
            addr: Some(addr),
            phase: Phase::Starting,
            passes: 0,
            fails: 0,
            started: now,
            next_probe: now,
            proven: adopted,
            adopted,
            endpoint: None,
        }
    }
}

impl Copy {
    /// The copy as the endpoints API lists it.
    pub(super) fn view(&self) -> EndpointView {
        EndpointView {
            id: short(&self.id).to_string(),
            node: self.node.clone(),
            address: self.addr.map(|a| a.to_string()).unwrap_or_default(),
            revision: self.revision,
            state: self.phase.state(),
            in_flight: self.endpoint.as_ref().map_or(0, |e| e.in_flight()),
            served: self.endpoint.as_ref().map_or(0, |e| e.served()),
        }
    }
}

impl Phase {
    pub(super) fn is_draining(self) -> bool {
        matches!(self, Phase::Draining { .. })
    }

    pub(super) fn state(self) -> CopyState {
        match self {
            Phase::Starting => CopyState::Starting,
            Phase::Healthy => CopyState::Healthy,
            Phase::Draining { .. } => CopyState::Draining,
        }
    }
}

/// A container id as the API shows it (Docker's short form).
pub(super) use crate::endpoints::short_id as short;
