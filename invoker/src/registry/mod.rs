//! The functions this node serves, as the config store's watch last reported them. Nothing
//! writes here but the feed that applies the watch, so one node and many nodes take the same
//! path; a deployer that wrote a change waits until the registry has applied its revision.
//!
//! A deployer may *stage* the worker it already built for a version, so the entry the watch
//! creates starts warm instead of building it again.

mod deployed;
mod published;

pub(crate) use deployed::Deployed;
pub(crate) use published::Published;

use crate::applied::Applied;
use crate::error::InvokerError;
use dashmap::DashMap;
use skiff_api::{FunctionConfig, Qualifier, VersionRef};
use skiff_state::config::Revision;
use skiff_workers::Worker;
use std::sync::Arc;

pub(crate) struct Registry {
    functions: DashMap<String, Arc<Deployed>>,
    staged: DashMap<(String, u64), Arc<dyn Worker>>,
    /// How far the functions' watch is applied.
    pub(crate) applied: Applied,
    /// Published versions and aliases.
    pub(crate) published: Published,
}

impl Registry {
    pub(crate) fn new() -> Self {
        Self { functions: DashMap::new(), staged: DashMap::new(), applied: Applied::default(), published: Published::default() }
    }

    pub(crate) fn lookup(&self, name: &str) -> Result<Arc<Deployed>, InvokerError> {
        self.functions.get(name).map(|e| e.clone()).ok_or_else(|| InvokerError::NotFound(name.to_string()))
    }

    /// The entry a call of `name` at `version` runs on.
    pub(crate) fn lookup_version(&self, name: &str, version: VersionRef) -> Result<Arc<Deployed>, InvokerError> {
        self.version_of(self.lookup(name)?, version)
    }

    /// The entry of `function`'s `version`, for a caller that already holds the function's.
    pub(crate) fn version_of(&self, function: Arc<Deployed>, version: VersionRef) -> Result<Arc<Deployed>, InvokerError> {
        match version {
            VersionRef::Latest => Ok(function),
            VersionRef::Published(n) => {
                let name = &function.config.name;
                self.published.version(name, n).ok_or_else(|| InvokerError::NotFound(format!("{name}:{n}")))
            }
        }
    }

    /// The version a call of `name` qualified by `qualifier` takes; an alias with weighted
    /// routing picks by `roll`, drawn uniformly from [0, 1) and only when needed.
    pub(crate) fn resolve(&self, name: &str, qualifier: Option<&Qualifier>, roll: impl FnOnce() -> f64) -> Result<VersionRef, InvokerError> {
        let version = match qualifier {
            None => VersionRef::Latest,
            Some(Qualifier::Version(v)) => *v,
            Some(Qualifier::Alias(a)) => {
                self.lookup(name)?;
                let alias = self.published.alias(name, a).ok_or_else(|| InvokerError::NotFound(format!("{name}:{a}")))?;
                alias.route(roll)
            }
        };
        self.lookup_version(name, version)?;
        Ok(version)
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

    /// Whether a function or a published version known here runs the zip image `tag`.
    pub(crate) fn runs_image(&self, tag: &str) -> bool {
        let runs = |d: &Deployed| d.config.zip_image() == Some(tag);
        self.functions.iter().any(|e| runs(e.value())) || self.published.all_versions().iter().any(|v| runs(v))
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

    /// Serves `config` from now on; returns the entry it replaced, if its worker is no longer
    /// needed. The same config seen again (after a re-list), or a change the worker does not
    /// bake in (concurrency, event settings, description), keeps the warm worker.
    pub(crate) fn install(&self, config: FunctionConfig, revision: Revision) -> Option<Arc<Deployed>> {
        let existing = self.get(&config.name);
        let staged = self.staged.remove(&(config.name.clone(), config.version)).map(|(_, w)| w);
        let kept = existing.as_ref().filter(|e| e.config.runs_like(&config)).and_then(|e| e.worker.get().cloned());
        if let (Some(_), Some(unused)) = (&kept, &staged) {
            unused.retire();
        }
        let keeps_worker = kept.is_some();
        let worker = kept.or(staged);
        let replaced = if keeps_worker { None } else { existing.clone() };
        let entry = Deployed::succeeding(existing.as_deref(), config.clone(), revision, worker);
        self.functions.insert(config.name, Arc::new(entry));
        replaced
    }

    pub(crate) fn remove(&self, name: &str) -> Option<Arc<Deployed>> {
        self.functions.remove(name).map(|(_, d)| d)
    }
}
