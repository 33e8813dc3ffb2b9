//! The feed: follows the config store's watch and applies each change to this node — the
//! function registry and its event dispatchers, the trigger consumers. It is the only writer of
//! that state, so a deploy on this node and a deploy on another reach it the same way.
//!
//! The mechanism (list, watch from the listed revision, re-list after compaction, retry while
//! the store is unreachable) is `skiff_state::config::follow`; what a change means is supplied
//! here by a `Follower` per collection.

mod published;

pub(crate) use published::{AliasesFollower, VersionsFollower};

use crate::builder::WorkerBuilder;
use crate::events::Events;
use crate::logs::LogBook;
use crate::metrics::Metrics;
use crate::registry::Registry;
use crate::triggers::Triggers;
use skiff_api::{FunctionConfig, TriggerConfig};
pub(crate) use skiff_state::config::follow::start;
use skiff_state::config::follow::Follower;
use skiff_state::config::Revision;
use std::collections::HashSet;
use std::sync::Arc;

/// Functions: the registry, the event dispatchers, and what is kept per function.
pub(crate) struct FunctionsFollower {
    pub(crate) registry: Arc<Registry>,
    /// Lets go of the zip images no function or version here runs any more.
    pub(crate) builder: Arc<WorkerBuilder>,
    pub(crate) events: Events,
    pub(crate) logs: Arc<LogBook>,
    pub(crate) metrics: Arc<Metrics>,
}

impl FunctionsFollower {
    /// `config` is served here no more.
    fn left(&self, config: &FunctionConfig) {
        if let Some(image) = config.zip_image() {
            self.builder.release_zip_image(image, &self.registry);
        }
    }
}

impl Follower for FunctionsFollower {
    type Record = FunctionConfig;

    fn put(&self, _key: &str, config: FunctionConfig, revision: Revision) {
        let (name, version) = (config.name.clone(), config.version);
        // Installed first: a dispatcher started before would find no function for its events
        // and give them back.
        if let Some(replaced) = self.registry.install(config.clone(), revision) {
            replaced.retire();
            self.left(&replaced.config);
            tracing::info!(function = %name, version, "deployed");
        }
        self.events.dispatch(&config);
        self.metrics.deployed.set(self.registry.len() as i64);
    }

    fn delete(&self, name: &str) {
        self.events.stop_dispatching(name);
        if let Some(removed) = self.registry.remove(name) {
            removed.retire();
            self.left(&removed.config);
            tracing::info!(function = %name, "deleted");
        }
        self.logs.forget(name);
        self.metrics.forget(name);
        self.metrics.deployed.set(self.registry.len() as i64);
    }

    fn retain(&self, keys: &HashSet<String>) {
        for deployed in self.registry.all() {
            if !keys.contains(&deployed.config.name) {
                self.delete(&deployed.config.name);
            }
        }
    }

    fn applied(&self, revision: Revision) {
        self.registry.applied.mark(revision);
    }
}

/// Triggers: their consumers.
pub(crate) struct TriggersFollower {
    pub(crate) triggers: Triggers,
}

impl Follower for TriggersFollower {
    type Record = TriggerConfig;

    fn put(&self, _id: &str, trigger: TriggerConfig, _revision: Revision) {
        self.triggers.consume(trigger);
    }

    fn delete(&self, id: &str) {
        self.triggers.stop_consuming(id);
    }

    fn retain(&self, keys: &HashSet<String>) {
        for id in self.triggers.consuming().into_iter().filter(|id| !keys.contains(id)) {
            self.delete(&id);
        }
    }

    fn applied(&self, revision: Revision) {
        self.triggers.applied.mark(revision);
    }
}
