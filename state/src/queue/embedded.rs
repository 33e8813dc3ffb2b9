//! The embedded queue: every queue is a key range of one redb table in `<data>/queue.redb`,
//! keyed by (queue, due time, sequence), so a range scan yields a queue's ready messages in
//! order and a delayed message simply has a later due time. Publishes and acks go through a
//! group commit (fsync'd before anyone is answered). Which messages are out with a consumer is
//! kept in memory only: after a crash every stored message is ready again, which is what
//! at-least-once asks for.
//!
//! Every run that starts is counted durably before it starts (a `runs` table beside the
//! messages, written by [`Delivery::started`]), so a message whose run a crash cut off comes
//! back with `earlier_runs` saying so, and its attempt count stays honest; a message that was
//! only handed out and never started is not counted.
//!
//! An ack that cannot be written (a full disk) does not give the message back: its run is done
//! and must not repeat because of the disk. The message stays marked out and its removal is
//! retried in the background with a growing pause until it is written; a crash meanwhile
//! delivers it again, as at-least-once allows. Marked-out messages count against the
//! consumer's prefetch, so while acks cannot be written, consumption slows to a stop instead
//! of spinning.

use super::{Browsed, Consumer, Delivery, Message, Queue, QueueBackend, QueueError, QueueRef, Rewrite, Settle};
use crate::db_file::DbFile;
use crate::group_commit::GroupCommit;
use crate::StoreError;
use async_trait::async_trait;
use dashmap::DashMap;
use redb::{ReadableTable, TableDefinition, WriteTransaction};
use serde_json::{Map, Value};
use skiff_api::now_ms;
use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, Notify};

type Key<'a> = (&'a str, u64, u64);
/// A stored message with its (due, seq) position in its queue.
type Positioned = ((u64, u64), Message);
const MESSAGES: TableDefinition<Key, &[u8]> = TableDefinition::new("messages");
/// How many runs of each message started, for messages with at least one.
const RUNS: TableDefinition<Key, u32> = TableDefinition::new("runs");
/// A stored message with its (due, seq) position and the runs of it that started.
type Ready = ((u64, u64), Message, u32);
/// A consumer with nothing due looks again at least this often (clock changes, missed wakeups).
const IDLE_RESCAN: Duration = Duration::from_secs(1);
/// First and longest pause between two tries of an ack that could not be written.
const ACK_RETRY_FIRST: Duration = Duration::from_millis(200);
const ACK_RETRY_LONGEST: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct EmbeddedQueue {
    inner: Arc<Inner>,
}

struct Inner {
    db: Arc<DbFile>,
    commits: GroupCommit,
    seq: AtomicU64,
    queues: DashMap<String, Arc<QueueState>>,
}

#[derive(Default)]
struct QueueState {
    notify: Notify,
    /// (due, seq) of messages out with a consumer.
    inflight: Mutex<HashSet<(u64, u64)>>,
}

/// Settles one delivery. Dropped unsettled (a consumer that failed or was cancelled midway), it
/// gives the message back, like a closed AMQP channel does.
struct Acker {
    broker: EmbeddedQueue,
    queue: String,
    key: (u64, u64),
    settled: bool,
    /// Runs started before this delivery; the start of this one is counted once.
    earlier_runs: u32,
    start_counted: tokio::sync::OnceCell<()>,
}

impl Drop for Acker {
    fn drop(&mut self) {
        if !self.settled {
            self.give_back();
        }
    }
}

#[async_trait]
impl Settle for Acker {
    /// Done once the removal is durable, or — when it cannot be written now — once its retry
    /// is scheduled (see the module's doc).
    async fn ack(mut self: Box<Self>) -> Result<(), QueueError> {
        self.settled = true;
        let (broker, queue, key) = (self.broker.clone(), self.queue.clone(), self.key);
        if broker.remove(&queue, key).await.is_ok() {
            broker.release(&queue, key);
        } else {
            tokio::spawn(async move { broker.remove_later(queue, key).await });
        }
        Ok(())
    }

    async fn requeue(self: Box<Self>) {
        drop(self); // unsettled: gives the message back
    }

    async fn started(&self) -> Result<(), QueueError> {
        let count = || self.broker.count_run(&self.queue, self.key, self.earlier_runs + 1);
        self.start_counted.get_or_try_init(count).await?;
        Ok(())
    }
}

impl Acker {
    fn give_back(&self) {
        self.broker.release(&self.queue, self.key);
    }
}

fn create_tables(tx: &WriteTransaction) -> Result<(), redb::Error> {
    tx.open_table(MESSAGES)?;
    tx.open_table(RUNS)?;
    Ok(())
}

impl EmbeddedQueue {
    pub(crate) fn open(dir: &Path) -> Result<Self, QueueError> {
        let db = DbFile::open(dir.join("queue.redb"), "queue", create_tables)?;
        let commits = GroupCommit::start(db.clone(), "queue", Duration::ZERO)?;
        // Sequence numbers only order messages with the same due time; starting from the clock
        // keeps them increasing across restarts without a scan.
        let seq = AtomicU64::new(SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64));
        Ok(Self { inner: Arc::new(Inner { db, commits, seq, queues: DashMap::new() }) })
    }

    async fn remove(&self, queue: &str, (due, seq): (u64, u64)) -> Result<(), StoreError> {
        let queue = queue.to_string();
        self.inner
            .commits
            .commit(move |tx| {
                tx.open_table(MESSAGES)?.remove((queue.as_str(), due, seq))?;
                tx.open_table(RUNS)?.remove((queue.as_str(), due, seq))?;
                Ok(())
            })
            .await
    }

    /// Retries an ack's removal until it is written; the message stays out meanwhile.
    async fn remove_later(self, queue: String, key: (u64, u64)) {
        let mut pause = ACK_RETRY_FIRST;
        loop {
            tokio::time::sleep(pause).await;
            if self.remove(&queue, key).await.is_ok() {
                return self.release(&queue, key);
            }
            pause = (pause * 2).min(ACK_RETRY_LONGEST);
        }
    }

    /// The message is no longer out (acked durably, or given back): a consumer may take the
    /// next one, or this one again.
    fn release(&self, queue: &str, key: (u64, u64)) {
        let state = self.state(queue);
        state.inflight.lock().expect("lock").remove(&key);
        state.notify.notify_one();
    }

    /// Records that `runs` runs of the message have started.
    async fn count_run(&self, queue: &str, (due, seq): (u64, u64), runs: u32) -> Result<(), StoreError> {
        let queue = queue.to_string();
        self.inner
            .commits
            .commit(move |tx| {
                // A message acked meanwhile keeps no count.
                if tx.open_table(MESSAGES)?.get((queue.as_str(), due, seq))?.is_some() {
                    tx.open_table(RUNS)?.insert((queue.as_str(), due, seq), runs)?;
                }
                Ok(())
            })
            .await
    }

    fn state(&self, queue: &str) -> Arc<QueueState> {
        self.inner.queues.entry(queue.to_string()).or_default().clone()
    }

    async fn publish_message(&self, queue: &QueueRef, message: &Message, delay: Option<Duration>) -> Result<(), QueueError> {
        let due = now_ms() + delay.map_or(0, |d| d.as_millis() as u64);
        let seq = self.inner.seq.fetch_add(1, Ordering::Relaxed);
        let (name, bytes) = (queue.name.clone(), encode(message));
        self.inner
            .commits
            .commit(move |tx| {
                tx.open_table(MESSAGES)?.insert((name.as_str(), due, seq), bytes.as_slice())?;
                Ok(())
            })
            .await?;
        self.state(&queue.name).notify.notify_one();
        Ok(())
    }

    async fn feed(self, queue: QueueRef, prefetch: u16, tx: mpsc::Sender<Delivery>) {
        let state = self.state(&queue.name);
        loop {
            let notified = state.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let free = (prefetch as usize).saturating_sub(state.inflight.lock().expect("lock").len());
            let (ready, next_due) = match self.ready(&queue.name, free, &state) {
                Ok(found) => found,
                Err(e) => {
                    if !e.is_unwritable() {
                        tracing::error!(queue = %queue.name, "reading the embedded queue: {e}");
                    }
                    (Vec::new(), None)
                }
            };
            for (key, message, earlier_runs) in ready {
                let start_counted = tokio::sync::OnceCell::new();
                let acker = Acker { broker: self.clone(), queue: queue.name.clone(), key, settled: false, earlier_runs, start_counted };
                let delivery =
                    Delivery { message, earlier_runs, exchange: String::new(), routing_key: queue.name.clone(), authentic: true, settle: Box::new(acker) };
                if tx.send(delivery).await.is_err() {
                    return;
                }
            }
            let wait = next_due.map_or(IDLE_RESCAN, |due| Duration::from_millis(due.saturating_sub(now_ms())));
            tokio::select! {
                () = notified => {}
                () = tokio::time::sleep(wait.min(IDLE_RESCAN)) => {}
                () = tx.closed() => return,
            }
        }
    }

    /// Up to `free` due messages not out with a consumer (marked out before returning), and the
    /// due time of the first message that is not due yet.
    fn ready(&self, queue: &str, free: usize, state: &QueueState) -> Result<(Vec<Ready>, Option<u64>), QueueError> {
        let now = now_ms();
        // Lock before the snapshot: an ack commits its delete and only then leaves `inflight`,
        // so a message acked meanwhile is either gone from this snapshot or still marked out.
        let mut inflight = state.inflight.lock().expect("lock");
        let mut out = Vec::new();
        let mut next_due = None;
        self.visit(queue, |due, seq, bytes, runs| {
            if due > now {
                next_due = Some(due);
                return Ok(false);
            }
            if out.len() >= free {
                return Ok(false);
            }
            if !inflight.contains(&(due, seq)) {
                out.push(((due, seq), decode(bytes)?, runs));
            }
            Ok(true)
        })?;
        // Marked out only once the whole scan succeeded: a failed one leaves nothing stranded.
        inflight.extend(out.iter().map(|(key, _, _)| *key));
        Ok((out, next_due))
    }

    /// Every message of `queue`, in order.
    fn scan(&self, queue: &str) -> Result<Vec<Positioned>, QueueError> {
        let mut out = Vec::new();
        self.visit(queue, |due, seq, bytes, _| {
            out.push(((due, seq), decode(bytes)?));
            Ok(true)
        })?;
        Ok(out)
    }

    /// Calls `f(due, seq, record, runs started)` for `queue`'s messages in order, from one read
    /// snapshot, until it returns false.
    fn visit(&self, queue: &str, mut f: impl FnMut(u64, u64, &[u8], u32) -> Result<bool, QueueError>) -> Result<(), QueueError> {
        let what = || format!("reading queue {queue}");
        let mut refused = None;
        self.inner.db.with(|db| {
            let tx = db.begin_read().map_err(StoreError::db(what()))?;
            let table = tx.open_table(MESSAGES).map_err(StoreError::db(what()))?;
            let runs = tx.open_table(RUNS).map_err(StoreError::db(what()))?;
            for row in table.range((queue, 0, 0)..=(queue, u64::MAX, u64::MAX)).map_err(StoreError::db(what()))? {
                let (key, value) = row.map_err(StoreError::db(what()))?;
                let (_, due, seq) = key.value();
                let started = runs.get((queue, due, seq)).map_err(StoreError::db(what()))?.map_or(0, |n| n.value());
                match f(due, seq, value.value(), started) {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(e) => {
                        refused = Some(e);
                        break;
                    }
                }
            }
            Ok(())
        })?;
        refused.map_or(Ok(()), Err)
    }

    fn browse_queue(&self, queue: &QueueRef, limit: usize) -> Result<Browsed, QueueError> {
        let all = self.scan(&queue.name)?;
        let total = all.len() as u64;
        Ok(Browsed { messages: all.into_iter().take(limit).map(|(_, m)| m).collect(), total })
    }

    async fn transfer_messages(&self, from: &QueueRef, id: Option<&str>, to: &QueueRef, rewrite: Rewrite<'_>) -> Result<u64, QueueError> {
        let now = now_ms();
        let moves: Vec<_> = self
            .scan(&from.name)?
            .into_iter()
            .filter(|(_, m)| id.is_none_or(|id| m.id == id))
            .map(|(key, m)| (key, self.inner.seq.fetch_add(1, Ordering::Relaxed), encode(&rewrite(m))))
            .collect();
        let moved = Arc::new(AtomicU64::new(0));
        let (counter, source, target) = (moved.clone(), from.name.clone(), to.name.clone());
        // One transaction: a message leaves the source exactly when it lands in the target, and
        // one that another redrive took meanwhile is skipped.
        self.inner
            .commits
            .commit(move |tx| {
                // Counted afresh on every run: a change may be applied again alone (group commit).
                counter.store(0, Ordering::Relaxed);
                let mut table = tx.open_table(MESSAGES)?;
                for ((due, seq), new_seq, bytes) in &moves {
                    if table.remove((source.as_str(), *due, *seq))?.is_some() {
                        tx.open_table(RUNS)?.remove((source.as_str(), *due, *seq))?;
                        table.insert((target.as_str(), now, *new_seq), bytes.as_slice())?;
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Ok(())
            })
            .await?;
        self.state(&to.name).notify.notify_one();
        Ok(moved.load(Ordering::Relaxed))
    }
}

#[async_trait]
impl Queue for EmbeddedQueue {
    fn backend(&self) -> QueueBackend {
        QueueBackend::Embedded
    }

    fn supports_bindings(&self) -> bool {
        false
    }

    async fn publish(&self, queue: &QueueRef, message: &Message, delay: Option<Duration>) -> Result<(), QueueError> {
        self.publish_message(queue, message, delay).await
    }

    fn consume(&self, queue: QueueRef, prefetch: u16) -> Consumer {
        let this = self.clone();
        super::spawn_consumer(move |tx| this.feed(queue, prefetch.max(1), tx))
    }

    /// Queues exist as soon as something is stored under their name.
    async fn declare(&self, _queue: &QueueRef) -> Result<(), QueueError> {
        Ok(())
    }

    async fn browse(&self, queue: &QueueRef, limit: usize) -> Result<Browsed, QueueError> {
        self.browse_queue(queue, limit)
    }

    async fn transfer(&self, from: &QueueRef, id: Option<&str>, to: &QueueRef, rewrite: Rewrite<'_>) -> Result<u64, QueueError> {
        self.transfer_messages(from, id, to, rewrite).await
    }

    async fn wait_ready(&self, _limit: Duration) -> bool {
        true
    }

    /// Nothing to close: unacked deliveries are given back as their ackers drop.
    async fn close(&self) {}
}

/// `[id len u16][id][headers len u32][headers JSON][body]`.
fn encode(m: &Message) -> Vec<u8> {
    let headers = serde_json::to_vec(&m.headers).expect("json");
    let mut out = Vec::with_capacity(6 + m.id.len() + headers.len() + m.body.len());
    out.extend_from_slice(&(m.id.len() as u16).to_le_bytes());
    out.extend_from_slice(m.id.as_bytes());
    out.extend_from_slice(&(headers.len() as u32).to_le_bytes());
    out.extend_from_slice(&headers);
    out.extend_from_slice(&m.body);
    out
}

fn decode(bytes: &[u8]) -> Result<Message, QueueError> {
    let corrupt = || QueueError::Refused("corrupt message record in the embedded queue".into());
    let id_len = u16::from_le_bytes(bytes.get(..2).ok_or_else(corrupt)?.try_into().expect("2 bytes")) as usize;
    let id = std::str::from_utf8(bytes.get(2..2 + id_len).ok_or_else(corrupt)?).map_err(|_| corrupt())?;
    let at = 2 + id_len;
    let h_len = u32::from_le_bytes(bytes.get(at..at + 4).ok_or_else(corrupt)?.try_into().expect("4 bytes")) as usize;
    let headers: Map<String, Value> = serde_json::from_slice(bytes.get(at + 4..at + 4 + h_len).ok_or_else(corrupt)?).map_err(|_| corrupt())?;
    let body = bytes::Bytes::copy_from_slice(&bytes[at + 4 + h_len..]);
    Ok(Message { id: id.to_string(), headers, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let mut headers = Map::new();
        headers.insert("x-attempt".into(), 2.into());
        let m = Message { id: "abc".into(), headers, body: bytes::Bytes::from_static(b"{\"a\":1}") };
        assert_eq!(decode(&encode(&m)).unwrap(), m);
        assert!(decode(&[9]).is_err());
    }

    #[tokio::test]
    async fn delayed_messages_wait_and_unacked_ones_come_back_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let q = QueueRef::function("f");
        let msg = |id: &str| Message { id: id.into(), headers: Map::new(), body: bytes::Bytes::new() };
        {
            let broker = EmbeddedQueue::open(dir.path()).unwrap();
            broker.publish(&q, &msg("later"), Some(Duration::from_millis(300))).await.unwrap();
            broker.publish(&q, &msg("now"), None).await.unwrap();
            let (tx, mut rx) = mpsc::channel(4);
            let task = tokio::spawn(broker.clone().feed(q.clone(), 4, tx));
            let first = rx.recv().await.unwrap();
            assert_eq!((first.message.id.as_str(), first.earlier_runs), ("now", 0));
            let started = std::time::Instant::now();
            let second = rx.recv().await.unwrap();
            assert_eq!(second.message.id, "later");
            assert!(started.elapsed() >= Duration::from_millis(200), "delay not held");
            first.ack().await.unwrap();
            second.started().await.unwrap();
            second.started().await.unwrap(); // counted once
            drop(second); // never acked: a crash cut its run off
            task.abort();
            let _ = task.await;
        }
        // The commit thread lets the file go once the last handle is gone.
        let mut reopened = None;
        for _ in 0..100 {
            match EmbeddedQueue::open(dir.path()) {
                Ok(b) => {
                    reopened = Some(b);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
        let broker = reopened.expect("reopened");
        let Browsed { messages: left, total } = broker.browse(&q, 10).await.unwrap();
        assert_eq!((left.len(), total), (1, 1));
        assert_eq!(left[0].id, "later");
        // Its run was counted on disk before it started: the cut-off run is visible, once.
        let (tx, mut rx) = mpsc::channel(4);
        let task = tokio::spawn(broker.clone().feed(q.clone(), 4, tx));
        let again = rx.recv().await.unwrap();
        assert_eq!((again.message.id.as_str(), again.earlier_runs), ("later", 1));
        drop(again); // handed out, never started: not counted
        let third = rx.recv().await.unwrap();
        assert_eq!(third.earlier_runs, 1);
        task.abort();
    }
}
