//! Connection lanes: one thread per core, each running its own current-thread tokio runtime,
//! on which accepted connections are served while their requests stay on the service proxy's
//! own HTTP/1.1 path (`proxy::h1`).
//!
//! Why: a proxied request is little work in user space and a few socket operations; on tokio's
//! multi-thread runtime its cost is dominated by the workers parking and waking each other
//! (work stealing moves a connection's wake-ups between threads). A lane never hands its tasks
//! to another thread, as each nginx worker keeps its connections. Lanes take connections in
//! turn, and each keeps its own idle connections to copies (a socket stays on the runtime whose
//! driver registered it).
//!
//! Nothing heavy may run on a lane, or every connection of that lane waits: a connection handed
//! to the general server leaves its lane for the main runtime (`Lane::spawn_main`), where
//! function calls, compiles and the control API run.

use crate::proxy::h1::IdlePool;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

/// A lane: where a connection's task runs, and its pool of idle connections to copies.
#[derive(Clone)]
pub(crate) struct Lane {
    runtime: Handle,
    pub(crate) pool: Arc<IdlePool>,
}

impl Lane {
    pub(crate) fn spawn<F>(&self, task: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.runtime.spawn(task)
    }
}

/// The lanes, and the main runtime connections leave them for.
pub(crate) struct Lanes {
    lanes: Vec<Lane>,
    next: AtomicUsize,
    /// Stops the lanes' threads when dropped.
    _stop: tokio::sync::watch::Sender<()>,
}

#[derive(Debug, thiserror::Error)]
#[error("starting connection lane {index}: {source}")]
pub struct LaneError {
    index: usize,
    source: std::io::Error,
}

impl Lanes {
    /// Starts `count` lanes (`count` ≥ 1).
    pub(crate) fn start(count: usize) -> Result<Self, LaneError> {
        let (stop, stopped) = tokio::sync::watch::channel(());
        let lanes = (0..count).map(|index| start_lane(index, stopped.clone())).collect::<Result<_, _>>()?;
        Ok(Self { lanes, next: AtomicUsize::new(0), _stop: stop })
    }

    /// The lane the next connection goes to (in turn).
    pub(crate) fn next(&self) -> &Lane {
        &self.lanes[self.next.fetch_add(1, Ordering::Relaxed) % self.lanes.len()]
    }
}

fn start_lane(index: usize, mut stopped: tokio::sync::watch::Receiver<()>) -> Result<Lane, LaneError> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|source| LaneError { index, source })?;
    let handle = runtime.handle().clone();
    std::thread::Builder::new()
        .name(format!("skiff-lane-{index}"))
        .spawn(move || runtime.block_on(async move { while stopped.changed().await.is_ok() {} }))
        .map_err(|source| LaneError { index, source })?;
    Ok(Lane { runtime: handle, pool: Arc::default() })
}

/// Aborts a task when dropped: a connection moved to the main runtime ends with the lane task
/// that waits for it (which the connection watchdog may abort).
pub(crate) struct AbortOnDrop<T>(pub(crate) JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn connections_go_to_the_lanes_in_turn_each_on_its_own_thread() {
        let lanes = Lanes::start(2).unwrap();
        let mut names = Vec::new();
        for _ in 0..4 {
            let name = lanes.next().spawn(async { std::thread::current().name().map(str::to_string) }).await.unwrap();
            names.push(name.unwrap());
        }
        assert_eq!(names, ["skiff-lane-0", "skiff-lane-1", "skiff-lane-0", "skiff-lane-1"]);
    }

    #[tokio::test]
    async fn a_moved_task_ends_with_the_guard_that_waits_for_it() {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _tx = tx;
            std::future::pending::<()>().await
        });
        drop(AbortOnDrop(task));
        assert!(rx.await.is_err(), "the task was dropped, and its sender with it");
    }
}
