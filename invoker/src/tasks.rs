//! Long-running background tasks kept by key (a function's event dispatcher, a trigger's
//! consumer), each stoppable: a stopped task stops taking new work and finishes what it has.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use tokio::sync::watch;
use tokio::task::JoinHandle;

struct Entry<M> {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    meta: M,
}

pub(crate) struct StoppableTasks<M> {
    running: Mutex<HashMap<String, Entry<M>>>,
}

impl<M> Default for StoppableTasks<M> {
    fn default() -> Self {
        Self { running: Mutex::new(HashMap::new()) }
    }
}

impl<M> StoppableTasks<M> {
    /// Runs `make(stop)` under `key`, replacing (stopping) the task there — unless that one is
    /// still running and `keep` accepts its `meta`. The task must end once `stop` turns true.
    pub(crate) fn start<F>(&self, key: &str, meta: M, keep: impl Fn(&M) -> bool, make: impl FnOnce(watch::Receiver<bool>) -> F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let mut running = self.running.lock().expect("lock");
        if running.get(key).is_some_and(|e| !e.task.is_finished() && keep(&e.meta)) {
            return;
        }
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(make(stopped));
        if let Some(old) = running.insert(key.to_string(), Entry { stop, task, meta }) {
            let _ = old.stop.send(true);
        }
    }

    /// The keys of the tasks kept now.
    pub(crate) fn keys(&self) -> Vec<String> {
        self.running.lock().expect("lock").keys().cloned().collect()
    }

    pub(crate) fn stop(&self, key: &str) {
        if let Some(old) = self.running.lock().expect("lock").remove(key) {
            let _ = old.stop.send(true);
        }
    }

    /// Stops every task and waits until each has finished its work in flight.
    pub(crate) async fn stop_all(&self) {
        let all: Vec<Entry<M>> = self.running.lock().expect("lock").drain().map(|(_, e)| e).collect();
        for e in &all {
            let _ = e.stop.send(true);
        }
        for e in all {
            let _ = e.task.await;
        }
    }
}
