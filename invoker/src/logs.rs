//! Recent invocation logs per function: a bounded in-memory ring (what `skiff logs` shows) and a
//! broadcast channel for followers. Old entries fall off; nothing here grows without bound.

use dashmap::DashMap;
use skiff_api::LogEntry;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

const ENTRIES_PER_FUNCTION: usize = 200;
const BYTES_PER_FUNCTION: usize = 512 * 1024;
const FOLLOW_BACKLOG: usize = 256;

struct FunctionLogs {
    entries: VecDeque<Arc<LogEntry>>,
    bytes: usize,
    followers: broadcast::Sender<Arc<LogEntry>>,
}

#[derive(Default)]
pub(crate) struct LogBook {
    functions: DashMap<String, Mutex<FunctionLogs>>,
}

impl LogBook {
    pub(crate) fn record(&self, entry: LogEntry) {
        let entry = Arc::new(entry);
        let slot = self.functions.entry(entry.function.clone()).or_insert_with(new_logs);
        let mut logs = slot.lock().unwrap_or_else(|p| p.into_inner());
        logs.bytes += entry.text.len();
        logs.entries.push_back(entry.clone());
        while logs.entries.len() > ENTRIES_PER_FUNCTION || (logs.bytes > BYTES_PER_FUNCTION && logs.entries.len() > 1) {
            let old = logs.entries.pop_front().expect("non-empty");
            logs.bytes -= old.text.len();
        }
        // No follower is not an error.
        let _ = logs.followers.send(entry);
    }

    /// The most recent `limit` entries, oldest first.
    pub(crate) fn recent(&self, function: &str, limit: usize) -> Vec<Arc<LogEntry>> {
        let Some(slot) = self.functions.get(function) else { return Vec::new() };
        let logs = slot.lock().unwrap_or_else(|p| p.into_inner());
        let skip = logs.entries.len().saturating_sub(limit);
        logs.entries.iter().skip(skip).cloned().collect()
    }

    /// Entries recorded from now on. A follower that falls behind misses entries (it is told so
    /// by `RecvError::Lagged`), it never holds memory hostage.
    pub(crate) fn follow(&self, function: &str) -> broadcast::Receiver<Arc<LogEntry>> {
        let slot = self.functions.entry(function.to_string()).or_insert_with(new_logs);
        let logs = slot.lock().unwrap_or_else(|p| p.into_inner());
        logs.followers.subscribe()
    }

    pub(crate) fn forget(&self, function: &str) {
        self.functions.remove(function);
    }
}

fn new_logs() -> Mutex<FunctionLogs> {
    Mutex::new(FunctionLogs { entries: VecDeque::new(), bytes: 0, followers: broadcast::channel(FOLLOW_BACKLOG).0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: usize, size: usize) -> LogEntry {
        LogEntry { request_id: i.to_string(), function: "f".into(), version: 1, timestamp_ms: 0, outcome: "success".into(), text: "x".repeat(size) }
    }

    #[test]
    fn ring_is_bounded_by_count_and_bytes() {
        let book = LogBook::default();
        for i in 0..ENTRIES_PER_FUNCTION + 10 {
            book.record(entry(i, 10));
        }
        let recent = book.recent("f", usize::MAX);
        assert_eq!(recent.len(), ENTRIES_PER_FUNCTION);
        assert_eq!(recent.last().unwrap().request_id, (ENTRIES_PER_FUNCTION + 9).to_string());
        for i in 0..10 {
            book.record(entry(i, BYTES_PER_FUNCTION / 4));
        }
        assert!(book.recent("f", usize::MAX).len() <= 4);
        assert_eq!(book.recent("f", 2).len(), 2);
    }

    #[tokio::test]
    async fn followers_see_new_entries() {
        let book = LogBook::default();
        let mut rx = book.follow("f");
        book.record(entry(7, 3));
        assert_eq!(rx.recv().await.unwrap().request_id, "7");
    }
}
