//! What happened to each asynchronous invocation, kept in `<data>/invocations.redb` for a bounded
//! time and count. Updates are group-committed without waiting: the event itself is durable in
//! its queue, and its next step rewrites the record, so a crash can only make a record lag.
//!
//! Invariant: a record never moves backwards. Updates race (the accept path writes "queued"
//! after the broker's confirm, by which time a consumer may already be running it), so each
//! record carries its progress — (redrives, attempts, phase) — and an older update is dropped.

use super::Event;
use crate::queue::GroupCommit;
use crate::InvokerError;
use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const STATUS: TableDefinition<&str, &[u8]> = TableDefinition::new("status");
/// (accepted ms, request id): the order records expire in.
const BY_AGE: TableDefinition<(u64, &str), ()> = TableDefinition::new("status_by_age");
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

    fn progress(&self) -> (u32, u32, u8) {
        let phase = match self.state {
            InvocationState::Queued if self.attempts == 0 => 0,
            InvocationState::Running => 1,
            InvocationState::Queued => 2,
            InvocationState::Succeeded | InvocationState::Failed => 3,
        };
        (self.redrives, self.attempts, phase)
    }
}

pub(crate) struct StatusStore {
    db: Arc<Database>,
    commits: GroupCommit,
    retention: Duration,
    max_records: u64,
}

impl StatusStore {
    pub(crate) fn open(dir: &Path, retention: Duration, max_records: u64) -> Result<Self, InvokerError> {
        let db = Database::create(dir.join("invocations.redb"))?;
        let tx = db.begin_write()?;
        tx.open_table(STATUS)?;
        tx.open_table(BY_AGE)?;
        tx.commit()?;
        let db = Arc::new(db);
        let commits = GroupCommit::start(db.clone(), "status")?;
        Ok(Self { db, commits, retention, max_records })
    }

    /// Records `status` unless the stored record is further along.
    pub(crate) fn record(&self, status: InvocationStatus) {
        self.commits.submit(move |tx| {
            let mut table = tx.open_table(STATUS)?;
            let current = table
                .get(status.request_id.as_str())?
                .and_then(|v| serde_json::from_slice::<InvocationStatus>(v.value()).ok());
            if current.is_some_and(|c| c.progress() > status.progress()) {
                return Ok(());
            }
            let bytes = serde_json::to_vec(&status).expect("json");
            table.insert(status.request_id.as_str(), bytes.as_slice())?;
            tx.open_table(BY_AGE)?.insert((status.accepted_ms, status.request_id.as_str()), ())?;
            Ok(())
        });
    }

    pub(crate) fn get(&self, request_id: &str) -> Result<Option<InvocationStatus>, InvokerError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(STATUS)?;
        let found = table.get(request_id)?;
        Ok(match found {
            Some(v) => Some(serde_json::from_slice(v.value())?),
            None => None,
        })
    }

    /// Drops records accepted before the retention window, then the oldest beyond the cap.
    /// Returns once committed.
    pub(crate) async fn expire(&self, now_ms: u64) -> Result<(), InvokerError> {
        let cutoff = now_ms.saturating_sub(self.retention.as_millis() as u64);
        let max = self.max_records;
        self.commits
            .commit(move |tx| {
                let mut status = tx.open_table(STATUS)?;
                let mut by_age = tx.open_table(BY_AGE)?;
                let excess = status.len()?.saturating_sub(max);
                let mut doomed = Vec::new();
                for (i, row) in by_age.iter()?.enumerate() {
                    let (key, _) = row?;
                    let (accepted, id) = key.value();
                    if accepted >= cutoff && i as u64 >= excess {
                        break;
                    }
                    doomed.push((accepted, id.to_string()));
                }
                for (accepted, id) in doomed {
                    by_age.remove((accepted, id.as_str()))?;
                    status.remove(id.as_str())?;
                }
                Ok(())
            })
            .await
            .map_err(InvokerError::Storage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    async fn records_never_move_backwards_and_expire() {
        let dir = tempfile::tempdir().unwrap();
        let store = StatusStore::open(dir.path(), Duration::from_secs(60), 2).unwrap();
        let mut running = event("a", 1000);
        running.attempts = 1;
        store.record(InvocationStatus::of(&running, InvocationState::Running));
        store.record(InvocationStatus::of(&event("a", 1000), InvocationState::Queued));
        store.expire(0).await.unwrap(); // a barrier: everything before it is committed
        assert_eq!(store.get("a").unwrap().unwrap().state, InvocationState::Running);

        store.record(InvocationStatus::of(&event("b", 2000), InvocationState::Queued));
        store.record(InvocationStatus::of(&event("c", 90_000), InvocationState::Queued));
        store.record(InvocationStatus::of(&event("d", 95_000), InvocationState::Queued));
        // At 100 s with 60 s retention, a and b are too old; the cap of 2 keeps c and d.
        store.expire(100_000).await.unwrap();
        let kept: Vec<_> = ["a", "b", "c", "d"].iter().map(|id| store.get(id).unwrap().is_some()).collect();
        assert_eq!(kept, [false, false, true, true]);
    }
}
