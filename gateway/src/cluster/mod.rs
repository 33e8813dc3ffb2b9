//! The gateway's side of a cluster: which node it is, forwarding a call to the node that should
//! run it ([`forward`]), the internal routes other nodes call ([`internal`]), the node list
//! ([`nodes`]), the fleet services are placed on ([`fleet`]) and its agents' routes
//! ([`copies`]), and what every node recorded gathered into one answer: asynchronous
//! invocations' status ([`status`]) and function logs ([`logs`]). A single node has an identity
//! and no cluster: it runs everything itself.

pub(crate) mod copies;
pub mod fleet;
pub(crate) mod forward;
pub(crate) mod internal;
pub(crate) mod logs;
pub(crate) mod nodes;
pub(crate) mod status;
mod unsent;

use hyper::HeaderMap;
use skiff_api::NodeInfo;
use skiff_cluster::blobs::ClusterBlobs;
use skiff_cluster::secret::{FORWARDED_HEADER, SECRET_HEADER};
use skiff_cluster::{ClusterSecret, Membership, Peers};
use std::sync::Arc;

/// What a cluster node's gateway needs of the cluster.
#[derive(Clone)]
pub struct ClusterGateway {
    pub members: Membership,
    pub secret: ClusterSecret,
    pub peers: Peers,
    pub blobs: Arc<ClusterBlobs>,
}

/// This node as the gateway knows it.
pub(crate) struct Node {
    pub(crate) info: NodeInfo,
    pub(crate) cluster: Option<ClusterGateway>,
    pub(crate) forwarder: forward::Forwarder,
}

/// How a request stands towards the internal channel.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Caller {
    /// An ordinary client.
    Client,
    /// Another node, proven by the cluster secret.
    Peer,
    /// Claims to be a node (internal route or forwarded call) without the right secret.
    Impostor,
}

impl Node {
    pub(crate) fn caller(&self, headers: &HeaderMap, internal_route: bool) -> Caller {
        let claims = internal_route || headers.contains_key(FORWARDED_HEADER);
        let proven = match (&self.cluster, headers.get(SECRET_HEADER)) {
            (Some(c), Some(given)) => c.secret.matches(given.as_bytes()),
            _ => false,
        };
        match (claims, proven) {
            (_, true) => Caller::Peer,
            (true, false) => Caller::Impostor,
            (false, false) => Caller::Client,
        }
    }
}
