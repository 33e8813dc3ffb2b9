//! The config store port: definitions (functions, triggers, services) by key, each with the
//! revision that last changed it; compare-and-swap writes; and a watch of changes from a
//! revision on. It is shaped like etcd's KV + watch on purpose: the single-node adapter
//! ([`local::LocalConfigStore`], redb) and a cluster adapter give the same contract.
//!
//! Contract:
//! - every write gets the next store revision; revisions only grow;
//! - [`ConfigStore::list`] answers the entries and the store revision they are current at;
//! - [`ConfigStore::watch`] after that revision yields every later change exactly once, in
//!   revision order — or fails with [`StoreError::Compacted`]-like `Compacted` when that
//!   history is gone, and the watcher lists again;
//! - a write whose [`Expect`] does not hold changes nothing and fails with a conflict.

pub mod follow;
pub mod local;
mod typed;

pub use local::LocalConfigStore;
pub use typed::{Stored, Typed};

use crate::lease::Fence;
use crate::StoreError;
use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::mpsc;

/// The kinds of definition kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Collection {
    Functions,
    Triggers,
    Services,
    /// Where each service's copies run and how they are, as the scheduler last placed them:
    /// what every node routes `/svc` traffic by.
    Placements,
    /// One-off tasks and their outcome.
    Tasks,
    /// Functions' published versions, frozen copies keyed `function:number`.
    Versions,
    /// Functions' aliases, keyed `function:alias`.
    Aliases,
    /// Access keys, by id, their secrets sealed.
    AccessKeys,
}

impl Collection {
    pub const ALL: [Collection; 8] = [
        Collection::Functions,
        Collection::Triggers,
        Collection::Services,
        Collection::Placements,
        Collection::Tasks,
        Collection::Versions,
        Collection::Aliases,
        Collection::AccessKeys,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Collection::Functions => "functions",
            Collection::Triggers => "triggers",
            Collection::Services => "services",
            Collection::Placements => "placements",
            Collection::Tasks => "tasks",
            Collection::Versions => "versions",
            Collection::Aliases => "aliases",
            Collection::AccessKeys => "access-keys",
        }
    }
}

/// A point in the store's history. Every write makes a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Revision(pub u64);

impl std::fmt::Display for Revision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "revision {}", self.0)
    }
}

/// One definition and the revision that last changed it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub value: Bytes,
    pub revision: Revision,
}

/// A collection's entries, current as of `revision`.
#[derive(Debug, Clone)]
pub struct Listing {
    pub entries: Vec<Entry>,
    pub revision: Revision,
}

/// What a write expects to find, or it changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// No entry under the key (a create).
    Absent,
    /// The entry last changed at this revision (an update of what was read).
    At(Revision),
    /// Whatever is there (a last-writer-wins overwrite, used by a sole writer).
    Any,
}

impl std::fmt::Display for Expect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expect::Absent => f.write_str("no entry"),
            Expect::At(r) => write!(f, "{r}"),
            Expect::Any => f.write_str("any entry"),
        }
    }
}

/// One change, as a watch reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Put(Entry),
    Deleted { key: String, revision: Revision },
}

impl Change {
    pub fn revision(&self) -> Revision {
        match self {
            Change::Put(e) => e.revision,
            Change::Deleted { revision, .. } => *revision,
        }
    }
}

/// Why a watch cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The history after the requested revision is no longer kept: list again.
    #[error("history before {0} is compacted")]
    Compacted(Revision),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The changes of one collection after a revision, in order. A watch that fails (the history
/// it needs was compacted, the store became unreachable) yields the error once and ends; the
/// watcher lists again or watches again from the last revision it applied.
pub struct Watch {
    rx: mpsc::UnboundedReceiver<Result<Change, WatchError>>,
}

impl Watch {
    pub fn new(rx: mpsc::UnboundedReceiver<Result<Change, WatchError>>) -> Self {
        Self { rx }
    }

    /// The next change; `None` once the store is gone.
    pub async fn next(&mut self) -> Option<Result<Change, WatchError>> {
        self.rx.recv().await
    }
}

#[async_trait]
pub trait ConfigStore: Send + Sync {
    async fn list(&self, collection: Collection) -> Result<Listing, StoreError>;

    async fn get(&self, collection: Collection, key: &str) -> Result<Option<Entry>, StoreError>;

    /// Writes `value` under `key` if `expect` holds; returns the write's revision.
    async fn put(&self, collection: Collection, key: &str, value: Bytes, expect: Expect) -> Result<Revision, StoreError>;

    /// [`ConfigStore::put`], done only while `fence` is its lease's current term, checked in
    /// the same atomic step as the write: what a paused old scheduler writes after another
    /// took over is refused. A store with a single writer process (the local one, whose leases
    /// never change hands) has nothing more to check.
    async fn put_fenced(&self, collection: Collection, key: &str, value: Bytes, expect: Expect, fence: &Fence) -> Result<Revision, StoreError> {
        let _ = fence;
        self.put(collection, key, value, expect).await
    }

    /// Removes `key` if `expect` holds; returns the write's revision. Removing an absent key
    /// with [`Expect::Any`] is not an error (and changes nothing).
    async fn delete(&self, collection: Collection, key: &str, expect: Expect) -> Result<Revision, StoreError>;

    /// Every change to `collection` after `after`, in revision order.
    async fn watch(&self, collection: Collection, after: Revision) -> Result<Watch, WatchError>;
}
