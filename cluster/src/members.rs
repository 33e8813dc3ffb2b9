//! Membership: each node holds an etcd lease (TTL [`MemberOptions::ttl`]) and, attached to it,
//! `nodes/NAME` with what it can take on. A node whose lease expires (it died, was paused or
//! was cut off from etcd for longer than the TTL) disappears from `nodes/` and gets no more
//! work; `members/NAME`, written without a lease, remembers it so it is listed as lost. A node
//! that comes back grants a new lease and announces itself again.
//!
//! Every node follows `nodes/` (list, then watch; list again after any failure) into
//! [`Membership::ready`], the view the home-node order and blob fetches are computed from.

use crate::etcd::{unavailable, Etcd};
use etcd_client::{Compare, CompareOp, EventType, GetOptions, PutOptions, Txn, TxnOp, WatchOptions};
use skiff_api::{NodeInfo, NodeState};
use skiff_state::StoreError;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The etcd lease a node holds while it is a member; what its singleton leases attach to.
pub type LeaseId = i64;

pub struct MemberOptions {
    pub me: NodeInfo,
    /// How long the node stays a member without reaching etcd.
    pub ttl: Duration,
}

#[derive(Clone)]
pub struct Membership {
    inner: Arc<Inner>,
}

struct Inner {
    etcd: Etcd,
    me: NodeInfo,
    ttl: Duration,
    /// Ready nodes by name, this one included while its lease lives.
    ready: watch::Sender<Arc<Vec<NodeInfo>>>,
    /// The lease this node holds now; `None` between losing one and being granted the next.
    lease: watch::Sender<Option<LeaseId>>,
}

impl Membership {
    /// Joins the cluster: grants a lease and announces this node, then keeps the lease alive
    /// and follows the other nodes in the background. Fails if etcd cannot be reached now.
    pub async fn join(etcd: Etcd, options: MemberOptions) -> Result<Self, StoreError> {
        let inner = Arc::new(Inner { etcd, me: options.me, ttl: options.ttl, ready: watch::channel(Arc::new(Vec::new())).0, lease: watch::channel(None).0 });
        let lease = inner.announce().await?;
        inner.lease.send_replace(Some(lease));
        let revision = inner.relist().await?;
        tokio::spawn(keep_membership(inner.clone(), lease));
        tokio::spawn(follow_nodes(inner.clone(), revision));
        Ok(Self { inner })
    }

    pub fn me(&self) -> &NodeInfo {
        &self.inner.me
    }

    /// The ready nodes, sorted by name, as this node last heard.
    pub fn ready(&self) -> Arc<Vec<NodeInfo>> {
        self.inner.ready.borrow().clone()
    }

    pub fn lease(&self) -> watch::Receiver<Option<LeaseId>> {
        self.inner.lease.subscribe()
    }

    pub(crate) fn etcd(&self) -> &Etcd {
        &self.inner.etcd
    }

    /// Every node that ever joined (read from etcd), with whether it is ready now (the ready
    /// view, which follows `nodes/`).
    pub async fn members(&self) -> Result<Vec<(NodeInfo, NodeState)>, StoreError> {
        let etcd = &self.inner.etcd;
        let mut client = etcd.requests.clone();
        let known = client.get(etcd.key("members/"), Some(GetOptions::new().with_prefix())).await.map_err(unavailable("listing members"))?;
        let mut all: BTreeMap<String, (NodeInfo, NodeState)> =
            known.kvs().iter().filter_map(|kv| decode(kv.value())).map(|n| (n.name.clone(), (n, NodeState::Lost))).collect();
        for info in self.ready().iter() {
            all.insert(info.name.clone(), (info.clone(), NodeState::Ready));
        }
        Ok(all.into_values().collect())
    }

    /// The node holding the singleton lease `name`, if any.
    pub async fn lease_holder(&self, name: &str) -> Result<Option<String>, StoreError> {
        let etcd = &self.inner.etcd;
        let mut client = etcd.requests.clone();
        let resp = client.get(etcd.lease_key(name), None).await.map_err(unavailable("reading a lease"))?;
        Ok(resp.kvs().first().map(|kv| String::from_utf8_lossy(kv.value()).into_owned()))
    }

    /// Leaves at once (on shutdown), instead of after the TTL.
    pub async fn leave(&self) {
        if let Some(id) = *self.inner.lease.borrow() {
            let mut client = self.inner.etcd.requests.clone();
            let _ = client.lease_revoke(id).await;
        }
    }
}

fn decode(bytes: &[u8]) -> Option<NodeInfo> {
    serde_json::from_slice(bytes).map_err(|e| tracing::warn!("ignoring an unreadable node record: {e}")).ok()
}

impl Inner {
    /// Grants a lease and writes `nodes/NAME` on it and `members/NAME`, in one transaction —
    /// unless another live node already holds the name (a second node started with the same
    /// `--node`). The same node coming back at the same address may take its name over at once.
    async fn announce(&self) -> Result<LeaseId, StoreError> {
        let mut client = self.etcd.requests.clone();
        let ttl = self.ttl.as_secs().max(1) as i64;
        let me = NodeInfo { joined_ms: skiff_api::now_ms(), ..self.me.clone() };
        let key = self.etcd.key(&format!("nodes/{}", me.name));
        let holder = client.get(key.clone(), None).await.map_err(unavailable("reading this node's name"))?;
        let taken = holder.kvs().first().and_then(|kv| decode(kv.value())).filter(|n| n.advertise != me.advertise);
        if let Some(other) = taken {
            return Err(StoreError::Conflict {
                key: format!("node name {}", me.name),
                expected: format!("no live node of that name (or this one at {})", me.advertise),
                found: format!("a live node at {}; choose another --node or wait for its lease to expire", other.advertise),
            });
        }
        // Written only if the name is still as read: two nodes racing for a name cannot both win.
        let unchanged = match holder.kvs().first() {
            Some(kv) => Compare::mod_revision(key.clone(), CompareOp::Equal, kv.mod_revision()),
            None => Compare::create_revision(key.clone(), CompareOp::Equal, 0),
        };
        let lease = client.lease_grant(ttl, None).await.map_err(unavailable("granting the membership lease"))?.id();
        let record = serde_json::to_vec(&me).expect("node records serialise");
        let txn = Txn::new().when(vec![unchanged]).and_then(vec![
            TxnOp::put(key, record.clone(), Some(PutOptions::new().with_lease(lease))),
            TxnOp::put(self.etcd.key(&format!("members/{}", me.name)), record, None),
        ]);
        if !client.txn(txn).await.map_err(unavailable("announcing this node"))?.succeeded() {
            let _ = client.lease_revoke(lease).await;
            return Err(StoreError::Conflict {
                key: format!("node name {}", me.name),
                expected: "the name as just read".into(),
                found: "another node announcing itself under it at the same moment".into(),
            });
        }
        tracing::info!(node = %me.name, lease, "joined the cluster");
        Ok(lease)
    }

    /// Reads `nodes/` into the ready view; returns the revision it is current at.
    async fn relist(&self) -> Result<i64, StoreError> {
        let mut client = self.etcd.requests.clone();
        let resp = client.get(self.etcd.key("nodes/"), Some(GetOptions::new().with_prefix())).await.map_err(unavailable("listing nodes"))?;
        let nodes: BTreeMap<String, NodeInfo> = resp.kvs().iter().filter_map(|kv| decode(kv.value())).map(|n| (n.name.clone(), n)).collect();
        self.ready.send_replace(Arc::new(nodes.into_values().collect()));
        Ok(resp.header().map_or(0, |h| h.revision()))
    }

    fn apply(&self, name: &str, info: Option<NodeInfo>) {
        self.ready.send_modify(|ready| {
            let mut nodes: Vec<NodeInfo> = ready.iter().filter(|n| n.name != name).cloned().collect();
            nodes.extend(info);
            nodes.sort_by(|a, b| a.name.cmp(&b.name));
            *ready = Arc::new(nodes);
        });
    }
}

/// Keeps the lease alive every third of the TTL; once it has expired (no answer for a whole
/// TTL, or etcd says so), announces the node again under a new lease.
async fn keep_membership(inner: Arc<Inner>, mut lease: LeaseId) {
    let beat = inner.ttl / 3;
    loop {
        keep_alive(&inner, lease, beat).await;
        inner.lease.send_replace(None);
        tracing::warn!(node = %inner.me.name, "membership lease lost; rejoining");
        lease = loop {
            match inner.announce().await {
                Ok(lease) => break lease,
                Err(e) => {
                    tracing::warn!("cannot rejoin the cluster yet: {e}");
                    tokio::time::sleep(beat).await;
                }
            }
        };
        inner.lease.send_replace(Some(lease));
    }
}

/// Returns once `lease` has expired, or must be taken to have. That is decided a beat before
/// the TTL runs out since the last renewal etcd confirmed: etcd counts from when it renewed,
/// which was before the confirmation arrived, so this node gives up its membership (and its
/// shares) no later than the rest of the cluster takes them over.
async fn keep_alive(inner: &Inner, lease: LeaseId, beat: Duration) {
    let mut last_ok = Instant::now();
    let mut stream = None;
    while last_ok.elapsed() < inner.ttl.saturating_sub(beat) {
        if stream.is_none() {
            let mut client = inner.etcd.streams.clone();
            stream = client.lease_keep_alive(lease).await.ok();
        }
        if let Some((keeper, answers)) = stream.as_mut() {
            let answer = async {
                keeper.keep_alive().await?;
                answers.message().await
            };
            match tokio::time::timeout(beat, answer).await {
                Ok(Ok(Some(resp))) if resp.ttl() > 0 => last_ok = Instant::now(),
                Ok(Ok(Some(_))) => return, // etcd says it has expired
                _ => stream = None,
            }
        }
        tokio::time::sleep(beat).await;
    }
}

/// Follows `nodes/` into the ready view from `revision` on.
async fn follow_nodes(inner: Arc<Inner>, mut revision: i64) {
    let prefix = inner.etcd.key("nodes/");
    loop {
        let options = WatchOptions::new().with_prefix().with_start_revision(revision + 1);
        let mut client = inner.etcd.streams.clone();
        if let Ok(mut stream) = client.watch(prefix.clone(), Some(options)).await {
            while let Ok(Some(resp)) = stream.message().await {
                if resp.canceled() || resp.compact_revision() > 0 {
                    break;
                }
                for event in resp.events() {
                    let Some(kv) = event.kv() else { continue };
                    let name = String::from_utf8_lossy(kv.key()).trim_start_matches(&prefix).to_string();
                    match event.event_type() {
                        EventType::Put => inner.apply(&name, decode(kv.value())),
                        EventType::Delete => inner.apply(&name, None),
                    }
                    revision = kv.mod_revision();
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        match inner.relist().await {
            Ok(r) => revision = r,
            Err(e) => tracing::warn!("cannot list the cluster's nodes: {e}"),
        }
    }
}
