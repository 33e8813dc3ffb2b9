//! The connection to etcd and the key layout Skiff keeps there. Everything lives under one
//! prefix so several clusters (or test runs) can share an etcd:
//!
//! - `{prefix}config/{collection}/{key}`: definitions (functions, triggers, services);
//! - `{prefix}nodes/{name}`: a ready node, attached to its membership lease;
//! - `{prefix}members/{name}`: every node that ever joined, so a lost one is still listed;
//! - `{prefix}leases/{name}`: who holds a singleton lease (the service scheduler); the key's
//!   create revision numbers the holder's term (its fence).
//!
//! Two gRPC clients are kept: requests get a deadline, so a store without quorum answers
//! "unavailable" within it instead of hanging a deploy; watches and lease keep-alives are long
//! streams that such a deadline would cut, and rely on HTTP/2 keep-alive pings instead.

pub mod config;

use etcd_client::{Client, ConnectOptions};
use skiff_state::lease::Fence;
use skiff_state::StoreError;
use std::time::Duration;

/// How long one etcd request may take before the caller is told the store is unavailable.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);
const PING: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub struct Etcd {
    /// Requests with a deadline (reads, writes, lease grants).
    pub(crate) requests: Client,
    /// Long streams (watches, lease keep-alives).
    pub(crate) streams: Client,
    prefix: String,
}

impl Etcd {
    /// Connects to `endpoints` (any member answers; the client balances over them). Fails only
    /// when no endpoint can be dialled at all.
    pub async fn connect(endpoints: &[String], prefix: &str) -> Result<Self, StoreError> {
        let base =
            ConnectOptions::new().with_connect_timeout(REQUEST_TIMEOUT).with_keep_alive(PING, PING).with_keep_alive_while_idle(true).with_require_leader(true);
        let requests = Client::connect(endpoints, Some(base.clone().with_timeout(REQUEST_TIMEOUT))).await.map_err(unavailable("connecting to etcd"))?;
        let streams = Client::connect(endpoints, Some(base)).await.map_err(unavailable("connecting to etcd"))?;
        Ok(Self { requests, streams, prefix: prefix.to_string() })
    }

    /// The full key of `path` (e.g. `nodes/a`) under this cluster's prefix.
    pub(crate) fn key(&self, path: &str) -> String {
        format!("{}{path}", self.prefix)
    }

    /// The key of the singleton lease `name`.
    pub(crate) fn lease_key(&self, name: &str) -> String {
        self.key(&format!("leases/{name}"))
    }

    /// Whether `fence` is its lease's current term: the lease key exists and was created at
    /// the fence's revision (a new holder creates it again, at a later revision).
    pub async fn is_current(&self, fence: &Fence) -> Result<bool, StoreError> {
        let mut client = self.requests.clone();
        let resp = client.get(self.lease_key(&fence.lease), None).await.map_err(unavailable("reading a lease"))?;
        Ok(resp.kvs().first().is_some_and(|kv| kv.create_revision() as u64 == fence.term))
    }
}

/// A closure for `map_err`: an etcd failure, naming what was being done, as the store's
/// "unavailable" (the gateway answers it with 503).
pub(crate) fn unavailable(what: &'static str) -> impl Fn(etcd_client::Error) -> StoreError {
    move |e| StoreError::Unavailable(format!("{what}: {e}"))
}
