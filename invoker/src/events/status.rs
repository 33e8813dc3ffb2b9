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

use super::Event;
use crate::queue::GroupCommit;
use crate::InvokerError;
use dashmap::DashMap;
use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;
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
/// Results above this are not kept in the record (`result_truncated` says so).
const MAX_STORED_RESULT: usize = 256 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvocationState {
    Queued,
    Running,
    Succeeded,
    Failed,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InvocationStatus {
    pub request_id: String,
    pub function: String,
    pub state: InvocationState,
    /// Attempts started so far.
    pub attempts: u32,
    pub redrives: u32,
    pub accepted_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_ms: Option<u64>,
    /// When a scheduled retry is due.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Box<RawValue>>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub result_truncated: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
    /// Set when the event went to the dead-letter queue: `RetriesExhausted` / `EventAgeExceeded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter: Option<String>,
}

impl InvocationStatus {
    pub(crate) fn of(event: &Event, state: InvocationState) -> Self {
        Self {
            request_id: event.request_id.clone(),
            function: event.function.clone(),
            state,
            attempts: event.attempts,
            redrives: event.redrives,
            accepted_ms: event.accepted_ms,
            started_ms: None,
            finished_ms: None,
            next_attempt_ms: None,
            duration_ms: None,
            result: None,
            result_truncated: false,
            error: event.last_error.clone(),
            dead_letter: None,
        }
    }

    /// Keeps a result that is JSON and small enough; otherwise notes it was dropped.
    pub(crate) fn with_result(mut self, output: &[u8]) -> Self {
        if output.len() > MAX_STORED_RESULT {
            self.result_truncated = true;
        } else if !output.is_empty() {
            match serde_json::from_slice::<Box<RawValue>>(output) {
                Ok(raw) => self.result = Some(raw),
                Err(_) => {
                    let text = serde_json::to_string(&String::from_utf8_lossy(output)).expect("json");
                    self.result = RawValue::from_string(text).ok();
                }
            }
        }
        self
    }

}

pub(crate) struct StatusStore {
    db: Arc<Database>,
    /// The newest record of each event that is running or not yet committed, with a sequence
    /// number so a commit only clears the entry it wrote.
    recent: Arc<DashMap<String, (u64, InvocationStatus)>>,
    seq: AtomicU64,
    commits: GroupCommit,
    retention: Duration,
    max_records: u64,
}

impl StatusStore {
    pub(crate) fn open(dir: &Path, retention: Duration, max_records: u64) -> Result<Self, InvokerError> {
        let db = Database::create(dir.join("invocations.redb"))?;
        let tx = db.begin_write()?;
        tx.open_table(STATUS)?;
        tx.commit()?;
        let db = Arc::new(db);
        let commits = GroupCommit::start(db.clone(), "status", LINGER)?;
        Ok(Self { db, recent: Arc::default(), seq: AtomicU64::new(0), commits, retention, max_records })
    }

    /// Records `status`: in memory while running, otherwise written in submission order.
    pub(crate) fn record(&self, status: InvocationStatus) {
        drop(self.record_durably(status));
    }

    /// [`StatusStore::record`], and a receiver that completes once the record is committed: a
    /// final record must be, before its event is acked, or a crash could leave it "queued"
    /// forever with nothing left to run.
    pub(crate) fn record_durably(&self, status: InvocationStatus) -> oneshot::Receiver<()> {
        let (committed, done) = oneshot::channel();
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let id = status.request_id.clone();
        if status.state == InvocationState::Running {
            self.recent.insert(id, (seq, status));
            let _ = committed.send(());
            return done;
        }
        self.recent.insert(id.clone(), (seq, status.clone()));
        let recent = self.recent.clone();
        self.commits.submit(
            move |tx| {
                let bytes = serde_json::to_vec(&status).expect("json");
                tx.open_table(STATUS)?.insert(status.request_id.as_str(), bytes.as_slice())?;
                Ok(())
            },
            move || {
                recent.remove_if(&id, |_, (s, _)| *s == seq);
                let _ = committed.send(());
            },
        );
        done
    }

    /// The event is no longer running in this process (its stored record stands).
    pub(crate) fn not_running(&self, request_id: &str) {
        self.recent.remove_if(request_id, |_, (_, s)| s.state == InvocationState::Running);
    }

    /// Drops the record of an event that was not accepted after all.
    pub(crate) fn forget(&self, request_id: &str) {
        let id = request_id.to_string();
        self.recent.remove(request_id);
        self.commits.submit(
            move |tx| {
                tx.open_table(STATUS)?.remove(id.as_str())?;
                Ok(())
            },
            || {},
        );
    }

    pub(crate) fn get(&self, request_id: &str) -> Result<Option<InvocationStatus>, InvokerError> {
        if let Some(recent) = self.recent.get(request_id) {
            return Ok(Some(recent.1.clone()));
        }
        let tx = self.db.begin_read()?;
        let table = tx.open_table(STATUS)?;
        let found = table.get(request_id)?;
        Ok(match found {
            Some(v) => Some(serde_json::from_slice(v.value())?),
            None => None,
        })
    }

    /// Drops records accepted before the retention window (by the time in their UUIDv7 id),
    /// then the oldest beyond the cap. Returns once committed.
    pub(crate) async fn expire(&self, now_ms: u64) -> Result<(), InvokerError> {
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
            .map_err(InvokerError::Storage)
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

    fn event(id: &str, accepted_ms: u64) -> Event {
        Event {
            request_id: id.into(),
            function: "f".into(),
            payload: None,
            attempts: 0,
            redrives: 0,
            accepted_ms,
            callback_url: None,
            last_error: None,
            condition: None,
            dead_lettered_ms: None,
        }
    }

    #[tokio::test]
    async fn running_is_in_memory_and_records_expire() {
        let dir = tempfile::tempdir().unwrap();
        let store = StatusStore::open(dir.path(), Duration::from_secs(60), 2).unwrap();
        let [a, b, c, d] = [1000, 2000, 90_000, 95_000].map(id_at);
        store.record(InvocationStatus::of(&event(&a, 1000), InvocationState::Queued));
        let mut running = event(&a, 1000);
        running.attempts = 1;
        store.record(InvocationStatus::of(&running, InvocationState::Running));
        store.expire(0).await.unwrap(); // a barrier: everything before it is committed
        assert_eq!(store.get(&a).unwrap().unwrap().state, InvocationState::Running);
        store.record(InvocationStatus::of(&running, InvocationState::Succeeded));
        store.expire(0).await.unwrap();
        assert_eq!(store.get(&a).unwrap().unwrap().state, InvocationState::Succeeded);

        store.record(InvocationStatus::of(&event(&b, 2000), InvocationState::Queued));
        store.record(InvocationStatus::of(&event(&c, 90_000), InvocationState::Queued));
        store.record(InvocationStatus::of(&event(&d, 95_000), InvocationState::Queued));
        store.expire(0).await.unwrap();
        // Committed records are read from the store, not from memory.
        assert!(store.recent.is_empty());
        // At 100 s with 60 s retention, a and b are too old; the cap of 2 keeps c and d.
        store.expire(100_000).await.unwrap();
        let kept: Vec<_> = [&a, &b, &c, &d].iter().map(|id| store.get(id).unwrap().is_some()).collect();
        assert_eq!(kept, [false, false, true, true]);
    }
}
