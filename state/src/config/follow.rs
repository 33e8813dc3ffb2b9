//! Following a collection: list it, apply every entry, then apply each change the watch
//! reports, listing again after a compaction and retrying while the store is unreachable. What
//! a change means to its follower (the function registry, trigger consumers, services) is
//! supplied through [`Follower`]; this loop is the only path by which a node learns of
//! definitions, whether they were written here or on another node.

use super::{Change, Revision, Stored, Typed, WatchError};
use crate::StoreError;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::HashSet;
use std::time::Duration;

/// What a change of one collection means to this node.
pub trait Follower: Send + Sync + 'static {
    type Record: Serialize + DeserializeOwned + Send;

    fn put(&self, key: &str, record: Self::Record, revision: Revision);
    fn delete(&self, key: &str);
    /// After a re-list: whatever is not among `keys` is gone.
    fn retain(&self, keys: &HashSet<String>);
    fn applied(&self, revision: Revision);
}

/// Applies the current listing now, then follows the watch in the background.
pub async fn start<F: Follower>(records: Typed<F::Record>, follower: F) -> Result<(), StoreError> {
    let revision = relist(&records, &follower).await?;
    tokio::spawn(follow(records, follower, revision));
    Ok(())
}

async fn relist<F: Follower>(records: &Typed<F::Record>, follower: &F) -> Result<Revision, StoreError> {
    let (listed, revision): (Vec<Stored<F::Record>>, Revision) = records.list().await?;
    let mut keys = HashSet::new();
    for stored in listed {
        follower.put(&stored.key, stored.value, stored.revision);
        keys.insert(stored.key);
    }
    follower.retain(&keys);
    follower.applied(revision);
    Ok(revision)
}

async fn follow<F: Follower>(records: Typed<F::Record>, follower: F, mut after: Revision) {
    loop {
        let failure = match records.watch(after).await {
            Ok(mut watch) => loop {
                match watch.next().await {
                    Some(Ok(change)) => after = apply(&records, &follower, change),
                    Some(Err(e)) => break e,
                    None => return, // the store is gone: the server is shutting down
                }
            },
            Err(e) => e,
        };
        match failure {
            WatchError::Compacted(_) => match relist(&records, &follower).await {
                Ok(revision) => after = revision,
                Err(e) => retry_later(&records, e).await,
            },
            WatchError::Store(e) => retry_later(&records, e).await,
        }
    }
}

/// Applies one change; returns its revision, from which a broken watch resumes.
fn apply<F: Follower>(records: &Typed<F::Record>, follower: &F, change: Change) -> Revision {
    let revision = change.revision();
    match change {
        Change::Put(entry) => match records.decode(&entry.key, &entry.value) {
            Ok(record) => follower.put(&entry.key, record, revision),
            Err(e) => tracing::error!("ignoring an unreadable definition: {e}"),
        },
        Change::Deleted { key, .. } => follower.delete(&key),
    }
    follower.applied(revision);
    revision
}

async fn retry_later<T: Serialize + DeserializeOwned>(records: &Typed<T>, e: StoreError) {
    tracing::warn!(collection = records.collection().as_str(), "config watch interrupted, retrying: {e}");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
