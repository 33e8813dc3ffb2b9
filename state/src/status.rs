//! What happened to each asynchronous invocation, kept in `<data>/invocations.redb` for a bounded
//! time and count. Updates are group-committed without waiting: the event itself is durable in
//! its queue, and its next step rewrites the record, so a crash can only make a record lag.
//!
//! Invariant: a record never moves backwards. Writes are applied in the order they are
//! submitted, and every step submits its record *before* the queue operation that lets the
//! next step start (the accept path before it publishes, a retry before it is scheduled), so a
//! later state is always submitted after an earlier one.
//!
//! Cost at thousands of events a second: "running" is kept in memory only (it is short-lived,
//! and after a crash the event runs again anyway), so an event costs two writes; and commits
//! linger (at most one per [`LINGER`]), so fsyncs are bounded. Records waiting for their commit
//! are served from memory, so a reader never sees an older state than was recorded.

use crate::db_file::DbFile;
use crate::group_commit::GroupCommit;
use crate::StoreError;
use dashmap::DashMap;
use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition, WriteTransaction};
use skiff_api::{InvocationState, InvocationStatus};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

/// Keyed by request id, which is a UUIDv7: key order is acceptance order, so new records go to
/// the end of the tree (few pages touched per commit) and the oldest are at its start.
const STATUS: TableDefinition<&str, &[u8]> = TableDefinition::new("status");
/// Status commits happen at most this often.
const LINGER: Duration = Duration::from_millis(20);

/// Longest pause between two tries of a record the disk refused.
const RETRY_LONGEST: Duration = Duration::from_secs(5);

pub struct StatusStore {
    db: Arc<DbFile>,
    /// The newest record of each event that is running or not yet committed, with a sequence
    /// number so a commit only clears the entry it wrote.
    recent: Arc<DashMap<String, (u64, InvocationStatus)>>,
    /// The sequence number of each event's newest record on its way to the disk: an older one
    /// still waiting (its write was refused) is never written over it.
    unwritten: Arc<DashMap<String, u64>>,
    seq: AtomicU64,
    commits: GroupCommit,
    retention: Duration,
    max_records: u64,
}

impl StatusStore {
    pub fn open(dir: &Path, retention: Duration, max_records: u64) -> Result<Self, StoreError> {
        let db = DbFile::open(dir.join("invocations.redb"), "status", create_tables)?;
        let commits = GroupCommit::start(db.clone(), "status", LINGER)?;
        Ok(Self { db, recent: Arc::default(), unwritten: Arc::default(), seq: AtomicU64::new(0), commits, retention, max_records })
    }

    /// Records `status`: in memory while running, otherwise written in submission order.
    pub fn record(&self, status: InvocationStatus) {
        drop(self.record_durably(status));
    }

    /// [`StatusStore::record`], and a receiver that completes once the record is committed: a
    /// final record must be, before its event is acked, or a crash could leave it "queued"
    /// forever with nothing left to run. A record the disk refuses stays in memory (lookups
    /// see it) and is tried again with a growing pause until it is committed.
    pub fn record_durably(&self, status: InvocationStatus) -> oneshot::Receiver<()> {
        let (committed, done) = oneshot::channel();
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let id = status.request_id.clone();
        if status.state == InvocationState::Running {
            self.recent.insert(id, (seq, status));
            let _ = committed.send(());
            return done;
        }
        let bytes = Arc::from(serde_json::to_vec(&status).expect("json"));
        self.recent.insert(id.clone(), (seq, status));
        self.unwritten.insert(id.clone(), seq);
        let pending = Pending { commits: self.commits.clone(), recent: self.recent.clone(), unwritten: self.unwritten.clone(), id, seq, bytes };
        pending.submit(committed, Duration::ZERO);
        done
    }

    /// The event is no longer running in this process (its stored record stands).
    pub fn not_running(&self, request_id: &str) {
        self.recent.remove_if(request_id, |_, (_, s)| s.state == InvocationState::Running);
    }

    /// Drops the record of an event that was not accepted after all.
    pub fn forget(&self, request_id: &str) {
        let id = request_id.to_string();
        self.recent.remove(request_id);
        self.unwritten.remove(request_id);
        self.commits.submit(
            move |tx| {
                tx.open_table(STATUS)?.remove(id.as_str())?;
                Ok(())
            },
            |_| {},
        );
    }

    /// The newest record of `request_id`: from memory if it is running or not yet committed,
    /// else read from the database on the blocking pool.
    pub async fn get(&self, request_id: &str) -> Result<Option<InvocationStatus>, StoreError> {
        if let Some(recent) = self.recent.get(request_id) {
            return Ok(Some(recent.1.clone()));
        }
        let (db, id) = (self.db.clone(), request_id.to_string());
        tokio::task::spawn_blocking(move || db.with(|db| read(db, &id))).await.map_err(|e| StoreError::Unavailable(format!("status read task: {e}")))?
    }

    /// Drops records accepted before the retention window (by the time in their UUIDv7 id),
    /// then the oldest beyond the cap. Returns once committed.
    pub async fn expire(&self, now_ms: u64) -> Result<(), StoreError> {
        let cutoff = now_ms.saturating_sub(self.retention.as_millis() as u64);
        let max = self.max_records;
        self.commits
            .commit(move |tx| {
                let mut status = tx.open_table(STATUS)?;
                let excess = status.len()?.saturating_sub(max);
                let mut doomed = Vec::new();
                for (i, row) in status.iter()?.enumerate() {
                    let (key, _) = row?;
                    let id = key.value();
                    if accepted_ms(id).is_some_and(|t| t >= cutoff) && i as u64 >= excess {
                        break;
                    }
                    doomed.push(id.to_string());
                }
                for id in doomed {
                    status.remove(id.as_str())?;
                }
                Ok(())
            })
            .await
    }
}

/// A record on its way to the disk.
struct Pending {
    commits: GroupCommit,
    recent: Arc<DashMap<String, (u64, InvocationStatus)>>,
    unwritten: Arc<DashMap<String, u64>>,
    id: String,
    seq: u64,
    bytes: Arc<[u8]>,
}

impl Pending {
    /// Submits the record; once committed it leaves memory and `committed` fires. Refused, it
    /// is submitted again after a pause — unless a newer record of its event was submitted or
    /// the event was forgotten meanwhile, checked in the writer (which applies changes in
    /// order), so an old record never lands over a newer one.
    fn submit(self, committed: oneshot::Sender<()>, pause: Duration) {
        let (key, seq, bytes, unwritten) = (self.id.clone(), self.seq, self.bytes.clone(), self.unwritten.clone());
        let commits = self.commits.clone();
        // Taken here, on the runtime: the writer thread that settles it is not a runtime thread.
        let runtime = tokio::runtime::Handle::try_current().ok();
        commits.submit(
            move |tx| {
                if unwritten.get(&key).is_some_and(|newest| *newest == seq) {
                    tx.open_table(STATUS)?.insert(key.as_str(), &bytes[..])?;
                }
                Ok(())
            },
            move |written| self.settle(written, committed, runtime, pause),
        );
    }

    fn settle(self, written: bool, committed: oneshot::Sender<()>, runtime: Option<tokio::runtime::Handle>, pause: Duration) {
        let newest = self.unwritten.get(&self.id).is_some_and(|n| *n == self.seq);
        let Some(runtime) = runtime.filter(|_| !written && newest) else {
            self.unwritten.remove_if(&self.id, |_, n| *n == self.seq);
            self.recent.remove_if(&self.id, |_, (s, _)| *s == self.seq);
            let _ = committed.send(());
            return;
        };
        let pause = (pause * 2).clamp(Duration::from_millis(200), RETRY_LONGEST);
        runtime.spawn(async move {
            tokio::time::sleep(pause).await;
            self.submit(committed, pause);
        });
    }
}

fn create_tables(tx: &WriteTransaction) -> Result<(), redb::Error> {
    tx.open_table(STATUS)?;
    Ok(())
}

fn read(db: &Database, request_id: &str) -> Result<Option<InvocationStatus>, StoreError> {
    let what = || format!("reading the status of {request_id}");
    let tx = db.begin_read().map_err(StoreError::db(what()))?;
    let table = tx.open_table(STATUS).map_err(StoreError::db(what()))?;
    let found = table.get(request_id).map_err(StoreError::db(what()))?;
    match found {
        Some(v) => serde_json::from_slice(v.value()).map(Some).map_err(|source| StoreError::Corrupt { key: request_id.to_string(), source }),
        None => Ok(None),
    }
}

/// When a request id (a UUIDv7) was made, in Unix ms; `None` for ids of another kind.
fn accepted_ms(id: &str) -> Option<u64> {
    let (secs, nanos) = uuid::Uuid::parse_str(id).ok()?.get_timestamp()?.to_unix();
    Some(secs * 1000 + u64::from(nanos) / 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A UUIDv7 made at `accepted_ms`.
    fn id_at(ms: u64) -> String {
        let ts = uuid::Timestamp::from_unix(uuid::NoContext, ms / 1000, (ms % 1000) as u32 * 1_000_000);
        uuid::Uuid::new_v7(ts).to_string()
    }

    fn status(id: &str, accepted_ms: u64, attempts: u32, state: InvocationState) -> InvocationStatus {
        let mut status = InvocationStatus::new(id.into(), "f".into(), state, accepted_ms);
        status.attempts = attempts;
        status
    }

    #[tokio::test]
    async fn running_is_in_memory_and_records_expire() {
        let dir = tempfile::tempdir().unwrap();
        let store = StatusStore::open(dir.path(), Duration::from_secs(60), 2).unwrap();
        let [a, b, c, d] = [1000, 2000, 90_000, 95_000].map(id_at);
        store.record(status(&a, 1000, 0, InvocationState::Queued));
        store.record(status(&a, 1000, 1, InvocationState::Running));
        store.expire(0).await.unwrap(); // a barrier: everything before it is committed
        assert_eq!(store.get(&a).await.unwrap().unwrap().state, InvocationState::Running);
        store.record(status(&a, 1000, 1, InvocationState::Succeeded));
        store.expire(0).await.unwrap();
        assert_eq!(store.get(&a).await.unwrap().unwrap().state, InvocationState::Succeeded);

        store.record(status(&b, 2000, 0, InvocationState::Queued));
        store.record(status(&c, 90_000, 0, InvocationState::Queued));
        store.record(status(&d, 95_000, 0, InvocationState::Queued));
        store.expire(0).await.unwrap();
        // Committed records are read from the store, not from memory.
        assert!(store.recent.is_empty());
        // At 100 s with 60 s retention, a and b are too old; the cap of 2 keeps c and d.
        store.expire(100_000).await.unwrap();
        let mut kept = Vec::new();
        for id in [&a, &b, &c, &d] {
            kept.push(store.get(id).await.unwrap().is_some());
        }
        assert_eq!(kept, [false, false, true, true]);
    }
}
