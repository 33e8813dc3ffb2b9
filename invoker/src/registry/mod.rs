//! The functions this node serves, as the config store's watch last reported them. Nothing
//! writes here but the feed that applies the watch, so one node and many nodes take the same
//! path; a deployer that wrote a change waits until the registry has applied its revision.
//!
//! A deployer may *stage* the worker it already built for a version, so the entry the watch
//! creates starts warm instead of building it again.

mod deployed;

pub(crate) use deployed::Deployed;

use crate::applied::Applied;
use crate::InvokerError;
use dashmap::DashMap;
use skiff_api::FunctionConfig;
use skiff_state::config::Revision;
use skiff_workers::Worker;
use std::sync::Arc;

pub(crate) struct Registry {
    functions: DashMap<String, Arc<Deployed>>,
    staged: DashMap<(String, u64), Arc<dyn Worker>>,
    /// How far the functions' watch is applied.
    pub(crate) applied: Applied,
}

impl Registry {
    pub(crate) fn new() -> Self {
        Self { functions: DashMap::new(), staged: DashMap::new(), applied: Applied::default() }
    }

    pub(crate) fn lookup(&self, name: &str) -> Result<Arc<Deployed>, InvokerError> {
        self.functions.get(name).map(|e| e.clone()).ok_or_else(|| InvokerError::NotFound(name.to_string()))
    }

    pub(crate) fn get(&self, name: &str) -> Option<Arc<Deployed>> {
        self.functions.get(name).map(|e| e.clone())
    }

    /// Every function's config, by name.
    pub(crate) fn configs(&self) -> Vec<FunctionConfig> {
        let mut all: Vec<_> = self.functions.iter().map(|e| e.config.clone()).collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    pub(crate) fn all(&self) -> Vec<Arc<Deployed>> {
        self.functions.iter().map(|e| e.clone()).collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.functions.len()
    }

    /// Keeps `worker` for the entry of `name`'s `version`, which the feed will create.
    pub(crate) fn stage(&self, name: &str, version: u64, worker: Arc<dyn Worker>) {
        self.staged.insert((name.to_string(), version), worker);
    }

    /// Drops a staged worker whose version was never stored.
    pub(crate) fn unstage(&self, name: &str, version: u64) {
        if let Some((_, worker)) = self.staged.remove(&(name.to_string(), version)) {
            worker.retire();
        }
    }

    /// Serves `config` from now on; returns the entry it replaced, if that was another
    /// version (the same config seen again, after a re-list, keeps its worker).
    pub(crate) fn install(&self, config: FunctionConfig, revision: Revision) -> Option<Arc<Deployed>> {
        let existing = self.get(&config.name);
        let unchanged = existing.as_ref().filter(|e| e.config == config);
        let worker = match unchanged {
            Some(same) => same.worker.get().cloned(),
            None => self.staged.remove(&(config.name.clone(), config.version)).map(|(_, w)| w),
        };
        let replaced = if unchanged.is_some() { None } else { existing.clone() };
        let entry = Deployed::succeeding(existing.as_deref(), config.clone(), revision, worker);
        self.functions.insert(config.name, Arc::new(entry));
        replaced
    }

    pub(crate) fn remove(&self, name: &str) -> Option<Arc<Deployed>> {
        self.functions.remove(name).map(|(_, d)| d)
    }
}
