//! The internal channel's client side: requests one node makes to another, each carrying the
//! cluster secret. Calls forwarded to a home node go through the gateway's own connection pool;
//! what is here moves code blobs and asks a node for its load or what it recorded of an
//! asynchronous invocation.

use crate::secret::{ClusterSecret, SECRET_HEADER};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use skiff_api::{InvocationStatus, LogEntry, NodeInfo};
use std::time::Duration;
use tokio::sync::mpsc;

/// Internal routes, served by every node's gateway behind the cluster secret.
pub const BLOBS_PATH: &str = "/internal/v1/blobs/";
pub const LOAD_PATH: &str = "/internal/v1/load";
pub const INVOCATIONS_PATH: &str = "/internal/v1/invocations/";
/// `{FUNCTIONS_PATH}{name}/logs?limit=N[&follow=true]`: this node's own log entries.
pub const FUNCTIONS_PATH: &str = "/internal/v1/functions/";
/// `{COPIES_PATH}`: the service copies on a node (start, list); `{COPIES_PATH}/{id}/...`: one.
pub const COPIES_PATH: &str = "/internal/v1/copies";
/// `{TASKS_PATH}`: start a one-off task on a node; `{TASKS_PATH}/reap`: collect one.
pub const TASKS_PATH: &str = "/internal/v1/tasks";
/// How long a followed log stream may stay open.
const FOLLOW_FOR: Duration = Duration::from_secs(24 * 3600);

/// A node's answer on [`LOAD_PATH`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Load {
    /// Function executions running there.
    pub in_flight: u64,
    /// `/svc` requests it is proxying, per service (what target tracking adds up).
    #[serde(default)]
    pub services: std::collections::BTreeMap<String, u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("node {node}: {source}")]
    Request {
        node: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("node {node} answered {status}: {body}")]
    Status { node: String, status: u16, body: String },
}

#[derive(Clone)]
pub struct Peers {
    http: reqwest::Client,
    secret: ClusterSecret,
}

impl Peers {
    pub fn new(secret: ClusterSecret) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(1))
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client with these settings builds");
        Self { http, secret }
    }

    /// The blob from `node`, or `None` if it does not hold it.
    pub async fn fetch_blob(&self, node: &NodeInfo, sha256: &str) -> Result<Option<Bytes>, PeerError> {
        let resp = self.send(node, self.http.get(url(node, &format!("{BLOBS_PATH}{sha256}")))).await;
        match resp {
            Err(PeerError::Status { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
            Ok(resp) => resp.bytes().await.map(Some).map_err(|source| PeerError::Request { node: node.name.clone(), source }),
        }
    }

    /// Stores the blob on `node` (which checks its hash).
    pub async fn push_blob(&self, node: &NodeInfo, sha256: &str, bytes: Bytes) -> Result<(), PeerError> {
        self.send(node, self.http.put(url(node, &format!("{BLOBS_PATH}{sha256}"))).body(bytes)).await.map(drop)
    }

    /// What `node` knows of asynchronous invocation `id`, or `None` if nothing.
    pub async fn invocation(&self, node: &NodeInfo, id: &str, within: Duration) -> Result<Option<InvocationStatus>, PeerError> {
        let req = self.http.get(url(node, &format!("{INVOCATIONS_PATH}{id}"))).timeout(within);
        match self.send(node, req).await {
            Err(PeerError::Status { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
            Ok(resp) => resp.json().await.map(Some).map_err(|source| PeerError::Request { node: node.name.clone(), source }),
        }
    }

    /// The last `limit` log entries of `function` that `node` ran.
    pub async fn recent_logs(&self, node: &NodeInfo, function: &str, limit: usize, within: Duration) -> Result<Vec<LogEntry>, PeerError> {
        #[derive(Deserialize)]
        struct Entries {
            entries: Vec<LogEntry>,
        }
        let req = self.http.get(url(node, &format!("{FUNCTIONS_PATH}{function}/logs?limit={limit}"))).timeout(within);
        let resp = self.send(node, req).await?;
        let entries: Entries = resp.json().await.map_err(|source| PeerError::Request { node: node.name.clone(), source })?;
        Ok(entries.entries)
    }

    /// Subscribes to `function`'s log on `node` (its entries after its last `limit`). A node
    /// answers only once it is subscribed, so every entry it records after this returns is in
    /// the stream.
    pub async fn follow_logs(&self, node: &NodeInfo, function: &str, limit: usize) -> Result<LogFollow, PeerError> {
        let req = self.http.get(url(node, &format!("{FUNCTIONS_PATH}{function}/logs?limit={limit}&follow=true"))).timeout(FOLLOW_FOR);
        let resp = self.send(node, req).await?;
        Ok(LogFollow { node: node.name.clone(), resp })
    }

    pub async fn load(&self, node: &NodeInfo, within: Duration) -> Result<Load, PeerError> {
        let resp = self.send(node, self.http.get(url(node, LOAD_PATH)).timeout(within)).await?;
        resp.json().await.map_err(|source| PeerError::Request { node: node.name.clone(), source })
    }

    /// `method path` on `node` with an optional JSON body, answered with JSON.
    pub async fn call_json<B: Serialize, R: serde::de::DeserializeOwned>(
        &self,
        node: &NodeInfo,
        method: reqwest::Method,
        path: &str,
        body: Option<&B>,
        within: Duration,
    ) -> Result<R, PeerError> {
        let mut req = self.http.request(method, url(node, path)).timeout(within);
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = self.send(node, req).await?;
        resp.json().await.map_err(|source| PeerError::Request { node: node.name.clone(), source })
    }

    /// `GET path` on `node`, answered as text.
    pub async fn get_text(&self, node: &NodeInfo, path: &str, within: Duration) -> Result<String, PeerError> {
        let resp = self.send(node, self.http.get(url(node, path)).timeout(within)).await?;
        resp.text().await.map_err(|source| PeerError::Request { node: node.name.clone(), source })
    }

    async fn send(&self, node: &NodeInfo, req: reqwest::RequestBuilder) -> Result<reqwest::Response, PeerError> {
        let failed = |source| PeerError::Request { node: node.name.clone(), source };
        let resp = req.header(SECRET_HEADER, self.secret.as_str()).send().await.map_err(failed)?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        Err(PeerError::Status { node: node.name.clone(), status, body })
    }
}

fn url(node: &NodeInfo, path: &str) -> String {
    format!("{}{path}", node.advertise.trim_end_matches('/'))
}

/// A peer's log stream, subscribed (see [`Peers::follow_logs`]).
pub struct LogFollow {
    node: String,
    resp: reqwest::Response,
}

impl LogFollow {
    /// Hands each whole newline-delimited line to `lines` until either side ends.
    pub async fn forward(mut self, lines: mpsc::Sender<Bytes>) -> Result<(), PeerError> {
        let mut pending = Vec::new();
        loop {
            let chunk = tokio::select! {
                chunk = self.resp.chunk() => chunk.map_err(|source| PeerError::Request { node: self.node.clone(), source })?,
                _ = lines.closed() => return Ok(()), // the follower went away: let go of the stream
            };
            let Some(chunk) = chunk else { return Ok(()) };
            pending.extend_from_slice(&chunk);
            if let Some(end) = pending.iter().rposition(|b| *b == b'\n') {
                let rest = pending.split_off(end + 1);
                if lines.send(Bytes::from(std::mem::replace(&mut pending, rest))).await.is_err() {
                    return Ok(());
                }
            }
        }
    }
}
