//! Group commit for a redb database: one writer thread takes every change waiting in its
//! channel, applies them in one write transaction and commits once (one fsync), then answers
//! each. Durability per change stays exact — no one is answered before the commit that holds
//! their change — while the fsync cost is shared by everyone who arrived during the previous
//! one. Changes are applied in the order they were submitted.
//!
//! A store whose writes need not be durable one by one (invocation status) can also *linger*:
//! commit at most once per interval, so its fsyncs per second are bounded whatever the load.

use redb::{Database, WriteTransaction};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

type Change = Box<dyn FnOnce(&WriteTransaction) -> Result<(), redb::Error> + Send>;

struct Job {
    change: Change,
    done: Option<oneshot::Sender<Result<(), String>>>,
    /// Run once the change is committed (or its commit failed).
    after: Option<Box<dyn FnOnce() + Send>>,
}

/// Most changes one transaction takes, so a flood cannot make a single commit unbounded.
const MAX_BATCH: usize = 4096;

#[derive(Clone)]
pub(crate) struct GroupCommit {
    jobs: mpsc::Sender<Job>,
}

impl GroupCommit {
    pub(crate) fn start(db: Arc<Database>, name: &str, linger: Duration) -> std::io::Result<Self> {
        let (jobs, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new().name(format!("{name}-commit")).spawn(move || writer(&db, &rx, linger))?;
        Ok(Self { jobs })
    }

    /// Applies `change` and returns once it is committed durably.
    pub(crate) async fn commit(
        &self,
        change: impl FnOnce(&WriteTransaction) -> Result<(), redb::Error> + Send + 'static,
    ) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(Job { change: Box::new(change), done: Some(tx), after: None })
            .map_err(|_| "the commit thread has stopped".to_string())?;
        rx.await.map_err(|_| "the commit thread has stopped".to_string())?
    }

    /// Applies `change` in a coming commit without waiting for it; `after` runs once that
    /// commit is done.
    pub(crate) fn submit(
        &self,
        change: impl FnOnce(&WriteTransaction) -> Result<(), redb::Error> + Send + 'static,
        after: impl FnOnce() + Send + 'static,
    ) {
        let _ = self.jobs.send(Job { change: Box::new(change), done: None, after: Some(Box::new(after)) });
    }
}

fn writer(db: &Database, rx: &mpsc::Receiver<Job>, linger: Duration) {
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
        let mut replies = Vec::with_capacity(batch.len());
        let mut afters = Vec::new();
        let result = (|| -> Result<(), redb::Error> {
            let tx = db.begin_write()?;
            for job in batch {
                replies.push(job.done);
                afters.extend(job.after);
                (job.change)(&tx)?;
            }
            tx.commit()?;
            Ok(())
        })();
        last_commit = Instant::now();
        for after in afters {
            after();
        }
        if let Err(e) = &result {
            tracing::error!(error = %e, "commit failed");
        }
        let result = result.map_err(|e| e.to_string());
        for reply in replies.into_iter().flatten() {
            let _ = reply.send(result.clone());
        }
    }
}
