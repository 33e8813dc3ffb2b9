//! Code blobs across nodes. A blob is kept on the node that deployed it and copied to one more
//! ready node before the deploy is acknowledged, so one node's loss never loses code; any other
//! node fetches a blob on its first call, from the nodes in the blob's rendezvous order, checks
//! its SHA-256 and keeps it. A node whose own copy is damaged fetches an intact one the same way. Removal is local: each node drops its own copy when the definitions
//! that name it go.

use crate::members::Membership;
use crate::peers::Peers;
use crate::placement;
use async_trait::async_trait;
use bytes::Bytes;
use skiff_state::blobs::{verify, BlobStore};
use skiff_state::StoreError;
use std::sync::Arc;

pub struct ClusterBlobs {
    local: Arc<dyn BlobStore>,
    members: Membership,
    peers: Peers,
}

impl ClusterBlobs {
    pub fn new(local: Arc<dyn BlobStore>, members: Membership, peers: Peers) -> Self {
        Self { local, members, peers }
    }

    /// This node's copy only: what it serves to other nodes.
    pub async fn get_local(&self, sha256: &str) -> Result<Vec<u8>, StoreError> {
        self.local.get(sha256).await
    }

    /// Stores a blob another node sent, if it is what its name says.
    pub async fn put_checked(&self, sha256: &str, bytes: Bytes) -> Result<(), StoreError> {
        verify(sha256, &bytes)?;
        self.local.put(sha256, bytes).await
    }

    fn others(&self, sha256: &str) -> Vec<skiff_api::NodeInfo> {
        let ready = self.members.ready();
        let me = &self.members.me().name;
        placement::order(sha256, &ready).into_iter().filter(|n| &n.name != me).cloned().collect()
    }

    async fn fetch(&self, sha256: &str) -> Result<Vec<u8>, StoreError> {
        for node in self.others(sha256) {
            match self.peers.fetch_blob(&node, sha256).await {
                Ok(Some(bytes)) => match verify(sha256, &bytes) {
                    Ok(()) => {
                        self.local.put(sha256, bytes.clone()).await?;
                        return Ok(bytes.to_vec());
                    }
                    Err(e) => tracing::warn!(node = %node.name, "refusing a blob: {e}"),
                },
                Ok(None) => {}
                Err(e) => tracing::debug!("blob {sha256} not fetched: {e}"),
            }
        }
        Err(StoreError::Unavailable(format!("code blob {sha256} is on no reachable node")))
    }
}

#[async_trait]
impl BlobStore for ClusterBlobs {
    /// Durable here and on a second ready node (when there is one) before it returns.
    async fn put(&self, sha256: &str, bytes: Bytes) -> Result<(), StoreError> {
        self.local.put(sha256, bytes.clone()).await?;
        let others = self.others(sha256);
        if others.is_empty() {
            return Ok(());
        }
        let mut failures = Vec::new();
        for node in &others {
            match self.peers.push_blob(node, sha256, bytes.clone()).await {
                Ok(()) => return Ok(()),
                Err(e) => failures.push(e.to_string()),
            }
        }
        Err(StoreError::Unavailable(format!("code could not be copied to a second node: {}", failures.join("; "))))
    }

    async fn get(&self, sha256: &str) -> Result<Vec<u8>, StoreError> {
        match self.local.get(sha256).await {
            Err(e) if e.is_missing_file() => self.fetch(sha256).await,
            // A damaged copy here is replaced by an intact one from a peer (`put` overwrites it).
            Err(e) if e.is_corrupt_blob() => self.fetch(sha256).await.map_err(|_| e),
            other => other,
        }
    }

    async fn remove(&self, sha256: &str) -> Result<(), StoreError> {
        self.local.remove(sha256).await
    }

    async fn check(&self, sha256: &str) -> Result<(), StoreError> {
        self.local.check(sha256).await
    }
}
