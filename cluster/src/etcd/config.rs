//! The config store on etcd: the same contract as the single-node store, with etcd's revisions
//! as the store revisions. A compare-and-swap is one etcd transaction (compare the key's
//! create or mod revision, then put or delete), so a deploy is atomic cluster-wide; a watch is
//! an etcd watch from the revision after the caller's, which etcd refuses with the compacted
//! revision once that history is gone.

use super::{unavailable, Etcd};
use async_trait::async_trait;
use bytes::Bytes;
use etcd_client::{Compare, CompareOp, EventType, GetOptions, KeyValue, Txn, TxnOp, TxnOpResponse, WatchOptions};
use skiff_state::config::{Change, Collection, ConfigStore, Entry, Expect, Listing, Revision, Watch, WatchError};
use skiff_state::lease::Fence;
use skiff_state::StoreError;
use tokio::sync::mpsc;

#[derive(Clone)]
pub struct EtcdConfigStore {
    etcd: Etcd,
}

impl EtcdConfigStore {
    pub fn new(etcd: Etcd) -> Self {
        Self { etcd }
    }

    fn prefix(&self, collection: Collection) -> String {
        self.etcd.key(&format!("config/{}/", collection.as_str()))
    }

    fn full_key(&self, collection: Collection, key: &str) -> String {
        format!("{}{key}", self.prefix(collection))
    }

    /// Runs `op` if `expect` holds for `key` (and `fence` is its lease's current term, when
    /// given); otherwise fails with what was found.
    async fn guarded(&self, collection: Collection, key: &str, expect: Expect, fence: Option<&Fence>, op: TxnOp) -> Result<Revision, StoreError> {
        let full = self.full_key(collection, key);
        let mut compare = match expect {
            Expect::Absent => vec![Compare::create_revision(full.clone(), CompareOp::Equal, 0)],
            Expect::At(r) => vec![Compare::mod_revision(full.clone(), CompareOp::Equal, r.0 as i64)],
            Expect::Any => vec![],
        };
        if let Some(fence) = fence {
            compare.push(Compare::create_revision(self.etcd.lease_key(&fence.lease), CompareOp::Equal, fence.term as i64));
        }
        let txn = Txn::new().when(compare).and_then(vec![op]).or_else(vec![TxnOp::get(full, None)]);
        let mut client = self.etcd.requests.clone();
        let resp = client.txn(txn).await.map_err(unavailable("writing to etcd"))?;
        let revision = Revision(resp.header().map_or(0, |h| h.revision()) as u64);
        if resp.succeeded() {
            return Ok(revision);
        }
        if let Some(fence) = fence {
            if !self.etcd.is_current(fence).await? {
                return Err(StoreError::Fenced { key: format!("{}/{key}", collection.as_str()), lease: fence.lease.clone(), term: fence.term });
            }
        }
        let found = resp.op_responses().into_iter().find_map(|r| match r {
            TxnOpResponse::Get(get) => Some(get.kvs().first().map(|kv| kv.mod_revision())),
            _ => None,
        });
        let found = match found.flatten() {
            Some(r) => Revision(r as u64).to_string(),
            None => "no entry".to_string(),
        };
        Err(StoreError::Conflict { key: format!("{}/{key}", collection.as_str()), expected: expect.to_string(), found })
    }

    fn entry(&self, collection: Collection, kv: &KeyValue) -> Entry {
        let key = String::from_utf8_lossy(kv.key());
        let key = key.strip_prefix(&self.prefix(collection)).unwrap_or(&key).to_string();
        Entry { key, value: Bytes::copy_from_slice(kv.value()), revision: Revision(kv.mod_revision() as u64) }
    }
}

#[async_trait]
impl ConfigStore for EtcdConfigStore {
    async fn list(&self, collection: Collection) -> Result<Listing, StoreError> {
        let mut client = self.etcd.requests.clone();
        let resp = client.get(self.prefix(collection), Some(GetOptions::new().with_prefix())).await.map_err(unavailable("listing from etcd"))?;
        let revision = Revision(resp.header().map_or(0, |h| h.revision()) as u64);
        Ok(Listing { entries: resp.kvs().iter().map(|kv| self.entry(collection, kv)).collect(), revision })
    }

    async fn get(&self, collection: Collection, key: &str) -> Result<Option<Entry>, StoreError> {
        let mut client = self.etcd.requests.clone();
        let resp = client.get(self.full_key(collection, key), None).await.map_err(unavailable("reading from etcd"))?;
        Ok(resp.kvs().first().map(|kv| self.entry(collection, kv)))
    }

    async fn put(&self, collection: Collection, key: &str, value: Bytes, expect: Expect) -> Result<Revision, StoreError> {
        let op = TxnOp::put(self.full_key(collection, key), value.to_vec(), None);
        self.guarded(collection, key, expect, None, op).await
    }

    async fn put_fenced(&self, collection: Collection, key: &str, value: Bytes, expect: Expect, fence: &Fence) -> Result<Revision, StoreError> {
        let op = TxnOp::put(self.full_key(collection, key), value.to_vec(), None);
        self.guarded(collection, key, expect, Some(fence), op).await
    }

    async fn delete(&self, collection: Collection, key: &str, expect: Expect) -> Result<Revision, StoreError> {
        let op = TxnOp::delete(self.full_key(collection, key), None);
        self.guarded(collection, key, expect, None, op).await
    }

    async fn watch(&self, collection: Collection, after: Revision) -> Result<Watch, WatchError> {
        let options = WatchOptions::new().with_prefix().with_start_revision(after.0 as i64 + 1);
        let mut client = self.etcd.streams.clone();
        let mut stream = client.watch(self.prefix(collection), Some(options)).await.map_err(|e| WatchError::Store(unavailable("watching etcd")(e)))?;
        let (tx, rx) = mpsc::unbounded_channel();
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                let message = tokio::select! {
                    m = stream.message() => m,
                    _ = tx.closed() => return,
                };
                let resp = match message {
                    Ok(Some(resp)) => resp,
                    Ok(None) => return drop(tx.send(Err(WatchError::Store(StoreError::Unavailable("etcd ended the watch".into()))))),
                    Err(e) => return drop(tx.send(Err(WatchError::Store(unavailable("watching etcd")(e))))),
                };
                if resp.compact_revision() > 0 {
                    return drop(tx.send(Err(WatchError::Compacted(Revision(resp.compact_revision() as u64)))));
                }
                if resp.canceled() {
                    let reason = format!("etcd cancelled the watch: {}", resp.cancel_reason());
                    return drop(tx.send(Err(WatchError::Store(StoreError::Unavailable(reason)))));
                }
                for event in resp.events() {
                    let Some(kv) = event.kv() else { continue };
                    let entry = this.entry(collection, kv);
                    let change = match event.event_type() {
                        EventType::Put => Change::Put(entry),
                        EventType::Delete => Change::Deleted { key: entry.key, revision: entry.revision },
                    };
                    if tx.send(Ok(change)).is_err() {
                        return;
                    }
                }
            }
        });
        Ok(Watch::new(rx))
    }
}
