//! Singleton leases on etcd: `leases/NAME` names the node that holds it and is attached to that
//! node's membership lease, so a node that dies or is cut off longer than its TTL loses every
//! singleton it held and another node takes it over. A node campaigns by creating the key only
//! if it is absent; a node that did not win watches the key and campaigns again when it goes.
//! The key's create revision is the holder's term ([`Fence`]): a later holder creates the key
//! again, so its term is always higher, and an order carrying an older term is refused.

use crate::etcd::unavailable;
use crate::members::{LeaseId, Membership};
use async_trait::async_trait;
use etcd_client::{Compare, CompareOp, EventType, PutOptions, Txn, TxnOp, TxnOpResponse, WatchOptions};
use skiff_state::lease::{Fence, Lease, Leases};
use skiff_state::StoreError;
use std::time::Duration;
use tokio::sync::watch;

pub struct EtcdLeases {
    members: Membership,
}

impl EtcdLeases {
    pub fn new(members: Membership) -> Self {
        Self { members }
    }
}

#[async_trait]
impl Leases for EtcdLeases {
    async fn acquire(&self, name: &str) -> Lease {
        let (held, rx) = watch::channel(None);
        let campaign = Campaign { members: self.members.clone(), name: name.to_string(), key: self.members.etcd().lease_key(name) };
        tokio::spawn(campaign.run(held));
        Lease::new(rx)
    }

    async fn verify(&self, fence: &Fence) -> Result<bool, StoreError> {
        self.members.etcd().is_current(fence).await
    }
}

struct Campaign {
    members: Membership,
    name: String,
    key: String,
}

/// What a campaign round found.
enum Round {
    /// This node holds the key: it was created at the first revision (the term), and read at
    /// the second.
    Won(i64, i64),
    /// Another node holds it; the key was read at this revision.
    Lost(i64),
}

impl Campaign {
    async fn run(self, held: watch::Sender<Option<Fence>>) {
        let mut lease_rx = self.members.lease();
        loop {
            let lease = tokio::select! {
                l = lease_rx.wait_for(Option::is_some) => match l { Ok(l) => l.expect("waited for Some"), Err(_) => return },
                _ = held.closed() => return,
            };
            let round = match self.try_take(lease).await {
                Ok(round) => round,
                Err(e) => {
                    tracing::debug!(key = %self.key, "lease campaign: {e}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            let revision = match round {
                Round::Won(term, revision) => {
                    held.send_replace(Some(Fence { lease: self.name.clone(), term: term as u64 }));
                    revision
                }
                Round::Lost(revision) => revision,
            };
            let given_up = self.until_changed(revision, lease, &mut lease_rx, &held).await;
            held.send_replace(None);
            if given_up {
                self.release(lease).await;
                return;
            }
        }
    }

    /// Creates the key under `lease` if nobody holds it.
    async fn try_take(&self, lease: LeaseId) -> Result<Round, StoreError> {
        let me = self.members.me().name.clone();
        let txn = Txn::new()
            .when(vec![Compare::create_revision(self.key.clone(), CompareOp::Equal, 0)])
            .and_then(vec![TxnOp::put(self.key.clone(), me.clone(), Some(PutOptions::new().with_lease(lease)))])
            .or_else(vec![TxnOp::get(self.key.clone(), None)]);
        let mut client = self.members.etcd().requests.clone();
        let resp = client.txn(txn).await.map_err(unavailable("campaigning for a lease"))?;
        let revision = resp.header().map_or(0, |h| h.revision());
        if resp.succeeded() {
            // Created by this very transaction: its create revision is the transaction's.
            return Ok(Round::Won(revision, revision));
        }
        let holder = resp.op_responses().into_iter().find_map(|r| match r {
            TxnOpResponse::Get(get) => get.kvs().first().map(|kv| (kv.value().to_vec(), kv.lease(), kv.create_revision())),
            _ => None,
        });
        // Our own key from before a restart of this campaign, under the same lease: still ours.
        Ok(match holder {
            Some((value, held_under, created)) if value == me.as_bytes() && held_under == lease => Round::Won(created, revision),
            _ => Round::Lost(revision),
        })
    }

    /// Waits until the key is deleted or rewritten after `revision`, the membership lease
    /// changes, or the holder of the [`Lease`] drops it (then `true`).
    async fn until_changed(&self, revision: i64, lease: LeaseId, lease_rx: &mut watch::Receiver<Option<LeaseId>>, held: &watch::Sender<Option<Fence>>) -> bool {
        let options = WatchOptions::new().with_start_revision(revision + 1);
        let mut client = self.members.etcd().streams.clone();
        let mut stream = client.watch(self.key.clone(), Some(options)).await.ok();
        loop {
            let changed = async {
                match stream.as_mut() {
                    Some(s) => loop {
                        match s.message().await {
                            Ok(Some(resp)) if resp.events().iter().any(|e| e.event_type() == EventType::Delete) || resp.canceled() => return,
                            Ok(Some(_)) => continue,
                            _ => return,
                        }
                    },
                    None => tokio::time::sleep(Duration::from_secs(1)).await,
                }
            };
            tokio::select! {
                _ = changed => return false,
                r = lease_rx.changed() => if r.is_err() || *lease_rx.borrow() != Some(lease) { return false },
                _ = held.closed() => return true,
            }
        }
    }

    /// Deletes the key if this node still holds it under `lease`.
    async fn release(&self, lease: LeaseId) {
        let txn = Txn::new().when(vec![Compare::lease(self.key.clone(), CompareOp::Equal, lease)]).and_then(vec![TxnOp::delete(self.key.clone(), None)]);
        let mut client = self.members.etcd().requests.clone();
        let _ = client.txn(txn).await;
    }
}
