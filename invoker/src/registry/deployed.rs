//! One deployed version. An entry is immutable once built: a deploy replaces the whole entry,
//! so a call that already looked one up finishes on the version it found.

use skiff_api::FunctionConfig;
use skiff_state::config::Revision;
use skiff_workers::Worker;
use std::sync::Arc;
use tokio::sync::{OnceCell, Semaphore};

pub(crate) struct Deployed {
    pub(crate) config: FunctionConfig,
    /// The config store revision of `config`: what a change of this function expects.
    pub(crate) revision: Revision,
    /// Reserved concurrency of this version, if configured.
    pub(crate) reserved: Option<Arc<Semaphore>>,
    /// Built at deploy time, or lazily on the first call after a restart (from the compiled
    /// artifact cache), so start-up does no per-function work.
    pub(crate) worker: OnceCell<Arc<dyn Worker>>,
}

impl Deployed {
    /// The entry for a new version of `previous`'s function. Reserved concurrency belongs to the
    /// function, not the version (as in Lambda): while the limit is unchanged the new version
    /// shares the old one's semaphore, so calls still running on the old version count against
    /// it and an update never lets the function run more copies than its limit.
    pub(crate) fn succeeding(previous: Option<&Deployed>, config: FunctionConfig, revision: Revision, worker: Option<Arc<dyn Worker>>) -> Self {
        let inherited = previous.filter(|p| p.config.concurrency == config.concurrency).and_then(|p| p.reserved.clone());
        let reserved = inherited.or_else(|| config.concurrency.map(|n| Arc::new(Semaphore::new(n as usize))));
        let cell = match worker {
            Some(w) => OnceCell::new_with(Some(w)),
            None => OnceCell::new(),
        };
        Self { config, revision, reserved, worker: cell }
    }

    /// This version will take no new calls: let its worker release what it holds.
    pub(crate) fn retire(&self) {
        if let Some(worker) = self.worker.get() {
            worker.retire();
        }
    }
}
