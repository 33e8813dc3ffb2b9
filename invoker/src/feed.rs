//! The feed: follows the config store's watch and applies each change to this node — the
//! function registry and its event dispatchers, the trigger consumers. It is the only writer of
//! that state, so a deploy on this node and a deploy on another reach it the same way.
//!
//! The mechanism (list, watch from the listed revision, re-list after compaction, retry while
//! the store is unreachable) is written once in [`follow`]; what a change means is supplied by
//! a [`Follower`].

use crate::events::Events;
use crate::logs::LogBook;
use crate::metrics::Metrics;
use crate::registry::Registry;
use crate::triggers::Triggers;
use serde::de::DeserializeOwned;
use serde::Serialize;
use skiff_api::{FunctionConfig, TriggerConfig};
use skiff_state::config::{Change, Revision, Stored, Typed, WatchError};
use skiff_state::StoreError;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// What a change of one collection means to this node.
pub(crate) trait Follower: Send + Sync + 'static {
    type Record: Serialize + DeserializeOwned + Send;

    fn put(&self, key: &str, record: Self::Record, revision: Revision);
    fn delete(&self, key: &str);
    /// After a re-list: whatever is not among `keys` is gone.
    fn retain(&self, keys: &HashSet<String>);
    fn applied(&self, revision: Revision);
}

/// Applies the current listing now, then follows the watch in the background.
pub(crate) async fn start<F: Follower>(records: Typed<F::Record>, follower: F) -> Result<(), StoreError> {
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

/// Functions: the registry, the event dispatchers, and what is kept per function.
pub(crate) struct FunctionsFollower {
    pub(crate) registry: Arc<Registry>,
    pub(crate) events: Events,
    pub(crate) logs: Arc<LogBook>,
    pub(crate) metrics: Arc<Metrics>,
}

impl Follower for FunctionsFollower {
    type Record = FunctionConfig;

    fn put(&self, _key: &str, config: FunctionConfig, revision: Revision) {
        let (name, version) = (config.name.clone(), config.version);
        // Installed first: a dispatcher started before would find no function for its events
        // and give them back.
        if let Some(replaced) = self.registry.install(config.clone(), revision) {
            replaced.retire();
            tracing::info!(function = %name, version, "deployed");
        }
        self.events.dispatch(&config);
        self.metrics.deployed.set(self.registry.len() as i64);
    }

    fn delete(&self, name: &str) {
        self.events.stop_dispatching(name);
        if let Some(removed) = self.registry.remove(name) {
            removed.retire();
            tracing::info!(function = %name, "deleted");
        }
        self.logs.forget(name);
        self.metrics.forget(name);
        self.metrics.deployed.set(self.registry.len() as i64);
    }

    fn retain(&self, keys: &HashSet<String>) {
        for deployed in self.registry.all() {
            if !keys.contains(&deployed.config.name) {
                self.delete(&deployed.config.name);
            }
        }
    }

    fn applied(&self, revision: Revision) {
        self.registry.applied.mark(revision);
    }
}

/// Triggers: their consumers.
pub(crate) struct TriggersFollower {
    pub(crate) triggers: Triggers,
}

impl Follower for TriggersFollower {
    type Record = TriggerConfig;

    fn put(&self, _id: &str, trigger: TriggerConfig, _revision: Revision) {
        self.triggers.consume(trigger);
    }

    fn delete(&self, id: &str) {
        self.triggers.stop_consuming(id);
    }

    fn retain(&self, keys: &HashSet<String>) {
        for id in self.triggers.consuming().into_iter().filter(|id| !keys.contains(id)) {
            self.delete(&id);
        }
    }

    fn applied(&self, revision: Revision) {
        self.triggers.applied.mark(revision);
    }
}
