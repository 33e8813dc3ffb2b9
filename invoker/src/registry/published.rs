//! Published versions and aliases this node serves, as the config store's watches last
//! reported them. A version is an entry like the function's own, with its own worker (its code
//! may differ from `$LATEST`'s); an alias only names versions.

use super::Deployed;
use crate::applied::Applied;
use dashmap::DashMap;
use skiff_api::{Alias, FunctionConfig};
use skiff_state::config::Revision;
use std::sync::Arc;

#[derive(Default)]
pub(crate) struct Published {
    versions: DashMap<(String, u32), Arc<Deployed>>,
    aliases: DashMap<(String, String), Alias>,
    /// How far the versions' watch is applied.
    pub(crate) versions_applied: Applied,
    /// How far the aliases' watch is applied.
    pub(crate) aliases_applied: Applied,
}

impl Published {
    pub(crate) fn version(&self, function: &str, number: u32) -> Option<Arc<Deployed>> {
        self.versions.get(&(function.to_string(), number)).map(|e| e.clone())
    }

    /// `function`'s published versions, oldest first.
    pub(crate) fn versions_of(&self, function: &str) -> Vec<Arc<Deployed>> {
        let mut all: Vec<_> = self.versions.iter().filter(|e| e.key().0 == function).map(|e| e.value().clone()).collect();
        all.sort_by_key(|d| d.config.published);
        all
    }

    /// Every published version, of every function.
    pub(crate) fn all_versions(&self) -> Vec<Arc<Deployed>> {
        self.versions.iter().map(|e| e.value().clone()).collect()
    }

    /// Serves a published version; a version never changes, so one seen again (after a
    /// re-list) keeps its entry and its warm worker.
    pub(crate) fn install_version(&self, config: FunctionConfig, revision: Revision) {
        let Some(number) = config.published else { return };
        let key = (config.name.clone(), number);
        if self.versions.get(&key).is_some_and(|e| e.config == config) {
            return;
        }
        let entry = Arc::new(Deployed::succeeding(None, config, revision, None));
        if let Some(old) = self.versions.insert(key, entry) {
            old.retire();
        }
    }

    /// Stops serving a version; returns its config, if it was served.
    pub(crate) fn remove_version(&self, function: &str, number: u32) -> Option<FunctionConfig> {
        let (_, old) = self.versions.remove(&(function.to_string(), number))?;
        old.retire();
        Some(old.config.clone())
    }

    pub(crate) fn alias(&self, function: &str, name: &str) -> Option<Alias> {
        self.aliases.get(&(function.to_string(), name.to_string())).map(|e| e.clone())
    }

    /// `function`'s aliases, by name.
    pub(crate) fn aliases_of(&self, function: &str) -> Vec<Alias> {
        let mut all: Vec<_> = self.aliases.iter().filter(|e| e.key().0 == function).map(|e| e.value().clone()).collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    pub(crate) fn all_aliases(&self) -> Vec<Alias> {
        self.aliases.iter().map(|e| e.value().clone()).collect()
    }

    pub(crate) fn install_alias(&self, alias: Alias) {
        self.aliases.insert((alias.function.clone(), alias.name.clone()), alias);
    }

    pub(crate) fn remove_alias(&self, function: &str, name: &str) {
        self.aliases.remove(&(function.to_string(), name.to_string()));
    }
}
