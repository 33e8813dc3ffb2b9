//! The single-node config store: one redb database (`<data>/skiff.redb`), a table per
//! collection holding each definition's JSON, a `revisions` table with the revision that last
//! changed each key, and the store revision in `meta`. Every write is one fsync'd transaction.
//!
//! Watches are served from memory: the last [`HISTORY`] changes are kept, and each write is
//! handed to the watchers under the same lock that orders the writes, so a watcher never sees a
//! gap or a change twice. A watch from further back than that history gets `Compacted` (as
//! etcd's does) and lists again.
//!
//! Data dirs written before revisions existed have no `revisions` rows: their entries count as
//! changed at revision 0, which compare-and-swap then expects.

use super::{Change, Collection, ConfigStore, Entry, Expect, Listing, Revision, Watch, WatchError};
use crate::db_file::DbFile;
use crate::StoreError;
use async_trait::async_trait;
use bytes::Bytes;
use redb::{Database, ReadableTable, TableDefinition, WriteTransaction};
use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

type Table = TableDefinition<'static, &'static str, &'static [u8]>;
const REVISIONS: TableDefinition<&str, u64> = TableDefinition::new("revisions");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const STORE_REVISION: &str = "revision";
/// Changes kept for watches that start behind the present.
const HISTORY: usize = 1024;

fn table(collection: Collection) -> Table {
    TableDefinition::new(collection.as_str())
}

fn revision_key(collection: Collection, key: &str) -> String {
    format!("{}/{key}", collection.as_str())
}

#[derive(Clone)]
pub struct LocalConfigStore {
    inner: Arc<Inner>,
}

struct Inner {
    db: Arc<DbFile>,
    /// Orders writes and their delivery to watchers.
    log: Mutex<Log>,
}

#[derive(Default)]
struct Log {
    history: VecDeque<(Collection, Change)>,
    watchers: Vec<(Collection, mpsc::UnboundedSender<Result<Change, WatchError>>)>,
}

impl LocalConfigStore {
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let db = DbFile::open(data_dir.join("skiff.redb"), "config", create_tables)?;
        Ok(Self { inner: Arc::new(Inner { db, log: Mutex::default() }) })
    }

    /// Runs `f` on the blocking pool: redb reads and fsync'd commits must not hold a runtime
    /// worker.
    async fn blocking<T: Send + 'static>(&self, f: impl FnOnce(&Inner) -> Result<T, StoreError> + Send + 'static) -> Result<T, StoreError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || f(&inner)).await.map_err(|e| StoreError::Unavailable(format!("config store task: {e}")))?
    }
}

fn create_tables(tx: &WriteTransaction) -> Result<(), redb::Error> {
    for collection in Collection::ALL {
        tx.open_table(table(collection))?;
    }
    tx.open_table(REVISIONS)?;
    tx.open_table(META)?;
    Ok(())
}

impl Inner {
    fn list(&self, collection: Collection) -> Result<Listing, StoreError> {
        self.db.with(|db| list(db, collection))
    }

    /// The store revision: that of the last write.
    fn revision(&self) -> Result<Revision, StoreError> {
        self.db.with(revision)
    }

    fn get(&self, collection: Collection, key: &str) -> Result<Option<Entry>, StoreError> {
        self.db.with(|db| get(db, collection, key))
    }

    /// One compare-and-swap write (`value: None` deletes), committed before the watchers hear
    /// of it. `None` when there was nothing to delete.
    fn write(&self, collection: Collection, key: &str, value: Option<Bytes>, expect: Expect) -> Result<Option<Revision>, StoreError> {
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        let Some(revision) = self.db.with(|db| write(db, collection, key, value.as_ref(), &expect))? else {
            return Ok(None);
        };
        let change = match value {
            Some(value) => Change::Put(Entry { key: key.to_string(), value, revision }),
            None => Change::Deleted { key: key.to_string(), revision },
        };
        log.publish(collection, change);
        Ok(Some(revision))
    }
    fn watch(&self, collection: Collection, after: Revision) -> Result<Watch, WatchError> {
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        let oldest = log.history.front().map(|(_, c)| c.revision());
        // Changes after `after` are all in memory if the history starts at or before the one
        // right after it — or if nothing has been written since `after`.
        let current = self.revision()?;
        if after < current && oldest.is_none_or(|o| o.0 > after.0 + 1) {
            return Err(WatchError::Compacted(after));
        }
        let (tx, rx) = mpsc::unbounded_channel();
        for (c, change) in &log.history {
            if *c == collection && change.revision() > after {
                let _ = tx.send(Ok(change.clone()));
            }
        }
        log.watchers.push((collection, tx));
        Ok(Watch::new(rx))
    }
}

fn list(db: &Database, collection: Collection) -> Result<Listing, StoreError> {
    let what = || format!("listing {}", collection.as_str());
    let tx = db.begin_read().map_err(StoreError::db(what()))?;
    let values = tx.open_table(table(collection)).map_err(StoreError::db(what()))?;
    let revisions = tx.open_table(REVISIONS).map_err(StoreError::db(what()))?;
    let meta = tx.open_table(META).map_err(StoreError::db(what()))?;
    let mut entries = Vec::new();
    for row in values.iter().map_err(StoreError::db(what()))? {
        let (key, value) = row.map_err(StoreError::db(what()))?;
        let key = key.value().to_string();
        let revision = revisions.get(revision_key(collection, &key).as_str()).map_err(StoreError::db(what()))?;
        entries.push(Entry { value: Bytes::copy_from_slice(value.value()), revision: Revision(revision.map_or(0, |r| r.value())), key });
    }
    let revision = Revision(meta.get(STORE_REVISION).map_err(StoreError::db(what()))?.map_or(0, |r| r.value()));
    Ok(Listing { entries, revision })
}

fn revision(db: &Database) -> Result<Revision, StoreError> {
    let what = || "reading the store revision".to_string();
    let tx = db.begin_read().map_err(StoreError::db(what()))?;
    let meta = tx.open_table(META).map_err(StoreError::db(what()))?;
    Ok(Revision(meta.get(STORE_REVISION).map_err(StoreError::db(what()))?.map_or(0, |r| r.value())))
}

fn get(db: &Database, collection: Collection, key: &str) -> Result<Option<Entry>, StoreError> {
    let what = || format!("reading {}/{key}", collection.as_str());
    let tx = db.begin_read().map_err(StoreError::db(what()))?;
    let values = tx.open_table(table(collection)).map_err(StoreError::db(what()))?;
    let Some(value) = values.get(key).map_err(StoreError::db(what()))? else { return Ok(None) };
    let revisions = tx.open_table(REVISIONS).map_err(StoreError::db(what()))?;
    let revision = revisions.get(revision_key(collection, key).as_str()).map_err(StoreError::db(what()))?;
    Ok(Some(Entry { key: key.to_string(), value: Bytes::copy_from_slice(value.value()), revision: Revision(revision.map_or(0, |r| r.value())) }))
}

/// The compare-and-swap write in one committed transaction; `None` when there was nothing to
/// delete.
fn write(db: &Database, collection: Collection, key: &str, value: Option<&Bytes>, expect: &Expect) -> Result<Option<Revision>, StoreError> {
    let what = || format!("writing {}/{key}", collection.as_str());
    let tx = db.begin_write().map_err(StoreError::db(what()))?;
    let revision = {
        let mut values = tx.open_table(table(collection)).map_err(StoreError::db(what()))?;
        let mut revisions = tx.open_table(REVISIONS).map_err(StoreError::db(what()))?;
        let mut meta = tx.open_table(META).map_err(StoreError::db(what()))?;
        let rkey = revision_key(collection, key);
        let exists = values.get(key).map_err(StoreError::db(what()))?.is_some();
        let current = revisions.get(rkey.as_str()).map_err(StoreError::db(what()))?.map(|r| Revision(r.value()));
        let found = exists.then(|| current.unwrap_or_default());
        check(expect, found, collection, key)?;
        if value.is_none() && found.is_none() {
            return Ok(None);
        }
        let next = Revision(meta.get(STORE_REVISION).map_err(StoreError::db(what()))?.map_or(0, |r| r.value()) + 1);
        meta.insert(STORE_REVISION, next.0).map_err(StoreError::db(what()))?;
        match value {
            Some(v) => {
                values.insert(key, v.as_ref()).map_err(StoreError::db(what()))?;
                revisions.insert(rkey.as_str(), next.0).map_err(StoreError::db(what()))?;
            }
            None => {
                values.remove(key).map_err(StoreError::db(what()))?;
                revisions.remove(rkey.as_str()).map_err(StoreError::db(what()))?;
            }
        }
        next
    };
    tx.commit().map_err(StoreError::db(what()))?;
    Ok(Some(revision))
}

impl Log {
    fn publish(&mut self, collection: Collection, change: Change) {
        self.watchers.retain(|(c, tx)| *c != collection || tx.send(Ok(change.clone())).is_ok());
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back((collection, change));
    }
}

fn check(expect: &Expect, found: Option<Revision>, collection: Collection, key: &str) -> Result<(), StoreError> {
    let holds = match expect {
        Expect::Any => true,
        Expect::Absent => found.is_none(),
        Expect::At(r) => found == Some(*r),
    };
    if holds {
        return Ok(());
    }
    Err(StoreError::Conflict {
        key: format!("{}/{key}", collection.as_str()),
        expected: expect.to_string(),
        found: found.map_or_else(|| "no entry".to_string(), |r| r.to_string()),
    })
}

#[async_trait]
impl ConfigStore for LocalConfigStore {
    async fn list(&self, collection: Collection) -> Result<Listing, StoreError> {
        self.blocking(move |inner| inner.list(collection)).await
    }

    async fn get(&self, collection: Collection, key: &str) -> Result<Option<Entry>, StoreError> {
        let key = key.to_string();
        self.blocking(move |inner| inner.get(collection, &key)).await
    }

    async fn put(&self, collection: Collection, key: &str, value: Bytes, expect: Expect) -> Result<Revision, StoreError> {
        let key = key.to_string();
        let written = self.blocking(move |inner| inner.write(collection, &key, Some(value), expect)).await?;
        Ok(written.expect("a put always writes"))
    }

    async fn delete(&self, collection: Collection, key: &str, expect: Expect) -> Result<Revision, StoreError> {
        let key = key.to_string();
        let written = self.blocking(move |inner| inner.write(collection, &key, None, expect)).await?;
        Ok(written.unwrap_or_default())
    }

    async fn watch(&self, collection: Collection, after: Revision) -> Result<Watch, WatchError> {
        self.inner.watch(collection, after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writes_are_compare_and_swap_and_watched_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalConfigStore::open(dir.path()).unwrap();
        let f = Collection::Functions;
        let listed = store.list(f).await.unwrap();
        assert_eq!((listed.entries.len(), listed.revision), (0, Revision(0)));
        let mut watch = store.watch(f, listed.revision).await.unwrap();

        let r1 = store.put(f, "a", Bytes::from_static(b"1"), Expect::Absent).await.unwrap();
        assert!(store.put(f, "a", Bytes::from_static(b"x"), Expect::Absent).await.is_err(), "create over an entry");
        let r2 = store.put(f, "a", Bytes::from_static(b"2"), Expect::At(r1)).await.unwrap();
        let stale = store.put(f, "a", Bytes::from_static(b"3"), Expect::At(r1)).await;
        assert!(matches!(stale, Err(StoreError::Conflict { .. })), "{stale:?}");
        store.put(Collection::Triggers, "t", Bytes::from_static(b"{}"), Expect::Any).await.unwrap();
        let r4 = store.delete(f, "a", Expect::At(r2)).await.unwrap();
        assert_eq!(store.get(f, "a").await.unwrap(), None);

        let mut seen = Vec::new();
        for _ in 0..3 {
            seen.push(watch.next().await.unwrap().unwrap());
        }
        assert_eq!(seen[0], Change::Put(Entry { key: "a".into(), value: Bytes::from_static(b"1"), revision: r1 }));
        assert_eq!(seen[1].revision(), r2);
        assert_eq!(seen[2], Change::Deleted { key: "a".into(), revision: r4 });

        // A watch from the past replays what it missed; the store keeps its revision on reopen.
        let mut late = store.watch(f, Revision(0)).await.unwrap();
        assert_eq!(late.next().await.unwrap().unwrap().revision(), r1);
        drop((store, watch, late));
        let reopened = LocalConfigStore::open(dir.path()).unwrap();
        assert_eq!(reopened.list(f).await.unwrap().revision, r4);
        assert!(matches!(reopened.watch(f, Revision(0)).await, Err(WatchError::Compacted(_))));
        assert!(reopened.watch(f, r4).await.is_ok());
    }
}
