//! Group commit for a redb database: one writer thread takes every change waiting in its
//! channel, applies them in one write transaction and commits once (one fsync), then answers
//! each. Durability per change stays exact — no one is answered before the commit that holds
//! their change — while the fsync cost is shared by everyone who arrived during the previous
//! one. Changes are applied in the order they were submitted.
//!
//! One failing change does not fail its neighbours: if a batch cannot be applied or committed,
//! it is thrown away whole and every change is applied again in a transaction of its own, so
//! each gets its own answer. That is why a change is `Fn`, not `FnOnce`: it may run twice, and
//! only the run that is committed counts.
//!
//! When the file itself fails (a full disk), the batch is not retried change by change: every
//! change in it is answered `Unwritable` at once, and [`DbFile`] reopens the file later.
//!
//! A store whose writes need not be durable one by one (invocation status) can also *linger*:
//! commit at most once per interval, so its fsyncs per second are bounded whatever the load.

use crate::db_file::DbFile;
use crate::StoreError;
use redb::{Database, WriteTransaction};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

type Change = Box<dyn Fn(&WriteTransaction) -> Result<(), redb::Error> + Send>;

struct Job {
    change: Change,
    done: Option<oneshot::Sender<Result<(), StoreError>>>,
    /// Run once the change is committed (`true`) or its commit failed (`false`).
    after: Option<Box<dyn FnOnce(bool) + Send>>,
}

/// Most changes one transaction takes, so a flood cannot make a single commit unbounded.
const MAX_BATCH: usize = 4096;

#[derive(Clone)]
pub(crate) struct GroupCommit {
    jobs: mpsc::Sender<Job>,
    name: &'static str,
}

impl GroupCommit {
    pub(crate) fn start(db: Arc<DbFile>, name: &'static str, linger: Duration) -> Result<Self, StoreError> {
        let (jobs, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name(format!("{name}-commit"))
            .spawn(move || writer(&db, name, &rx, linger))
            .map_err(StoreError::io(format!("<{name} commit thread>")))?;
        Ok(Self { jobs, name })
    }

    /// Applies `change` and returns once it is committed durably.
    pub(crate) async fn commit(&self, change: impl Fn(&WriteTransaction) -> Result<(), redb::Error> + Send + 'static) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.jobs.send(Job { change: Box::new(change), done: Some(tx), after: None }).map_err(|_| StoreError::WriterStopped(self.name))?;
        rx.await.map_err(|_| StoreError::WriterStopped(self.name))?
    }

    /// Applies `change` in a coming commit without waiting for it; `after` runs once that
    /// commit is done, told whether it committed.
    pub(crate) fn submit(&self, change: impl Fn(&WriteTransaction) -> Result<(), redb::Error> + Send + 'static, after: impl FnOnce(bool) + Send + 'static) {
        let _ = self.jobs.send(Job { change: Box::new(change), done: None, after: Some(Box::new(after)) });
    }
}

fn writer(db: &DbFile, name: &'static str, rx: &mpsc::Receiver<Job>, linger: Duration) {
    let mut last_commit = Instant::now() - linger;
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        let wait = (last_commit + linger).saturating_duration_since(Instant::now());
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let commit = |changes: &[Job]| db.with(|db| apply(db, changes.iter().map(|j| &j.change)).map_err(StoreError::db(format!("committing to {name}"))));
        let results: Vec<Result<(), StoreError>> = match commit(&batch) {
            Ok(()) => batch.iter().map(|_| Ok(())).collect(),
            Err(StoreError::Unwritable { store, path, reason }) => {
                batch.iter().map(|_| Err(StoreError::Unwritable { store, path: path.clone(), reason: reason.clone() })).collect()
            }
            Err(e) => {
                tracing::warn!(store = name, error = %e, "a batch commit failed; committing its changes one by one");
                batch.iter().map(|j| commit(std::slice::from_ref(j))).collect()
            }
        };
        last_commit = Instant::now();
        for (job, result) in batch.into_iter().zip(results) {
            if let Err(e) = &result {
                if !matches!(e, StoreError::Unwritable { .. }) {
                    tracing::error!(store = name, error = %e, "commit failed");
                }
            }
            if let Some(after) = job.after {
                after(result.is_ok());
            }
            if let Some(done) = job.done {
                let _ = done.send(result);
            }
        }
    }
}

/// Applies `changes` in one transaction and commits it; on any error nothing is committed.
fn apply<'a>(db: &Database, changes: impl Iterator<Item = &'a Change>) -> Result<(), redb::Error> {
    let tx = db.begin_write()?;
    for change in changes {
        change(&tx)?;
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::TableDefinition;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const T: TableDefinition<&str, u64> = TableDefinition::new("t");
    const OTHER: TableDefinition<&str, &str> = TableDefinition::new("t");

    #[tokio::test]
    async fn a_failing_change_fails_alone_and_every_callback_runs() {
        let dir = tempfile::tempdir().unwrap();
        let file = DbFile::open(dir.path().join("db"), "test", |_| Ok(())).unwrap();
        // A long linger gathers all three changes into one batch.
        let commits = GroupCommit::start(file.clone(), "test", Duration::from_millis(300)).unwrap();
        let afters = Arc::new(AtomicUsize::new(0));
        let counted = |afters: &Arc<AtomicUsize>| {
            let afters = afters.clone();
            move |_| {
                afters.fetch_add(1, Ordering::SeqCst);
            }
        };
        commits.submit(|tx| tx.open_table(T)?.insert("a", 1).map(drop).map_err(Into::into), counted(&afters));
        let good = commits.commit(|tx| tx.open_table(T)?.insert("b", 2).map(drop).map_err(Into::into));
        // Opening the table with another value type fails inside the transaction.
        let bad = commits.commit(|tx| tx.open_table(OTHER)?.insert("c", "x").map(drop).map_err(Into::into));
        commits.submit(|tx| tx.open_table(T)?.insert("d", 4).map(drop).map_err(Into::into), counted(&afters));
        let (good, bad) = tokio::join!(good, bad);
        assert!(good.is_ok(), "{good:?}");
        assert!(bad.is_err());
        commits.commit(|_| Ok(())).await.unwrap(); // a barrier
        assert_eq!(afters.load(Ordering::SeqCst), 2);
        file.with(|db| {
            let read = db.begin_read().unwrap();
            let table = read.open_table(T).unwrap();
            for key in ["a", "b", "d"] {
                assert!(table.get(key).unwrap().is_some(), "{key} lost with the failing change");
            }
            Ok(())
        })
        .unwrap();
    }
}
