//! Published versions and aliases: each change lands in the registry's [`Published`] maps.
//! Their keys are `function:number` and `function:alias`, so a deletion, which reports only
//! the key, still says what it removes.

use crate::builder::WorkerBuilder;
use crate::registry::Registry;
use skiff_api::{Alias, FunctionConfig};
use skiff_state::config::follow::Follower;
use skiff_state::config::Revision;
use std::collections::HashSet;
use std::sync::Arc;

pub(crate) struct VersionsFollower {
    pub(crate) registry: Arc<Registry>,
    pub(crate) builder: Arc<WorkerBuilder>,
}

impl VersionsFollower {
    fn remove(&self, function: &str, number: u32) {
        if let Some(image) = self.registry.published.remove_version(function, number).as_ref().and_then(FunctionConfig::zip_image) {
            self.builder.release_zip_image(image, &self.registry);
        }
    }
}

impl Follower for VersionsFollower {
    type Record = FunctionConfig;

    fn put(&self, _key: &str, config: FunctionConfig, revision: Revision) {
        self.registry.published.install_version(config, revision);
    }

    fn delete(&self, key: &str) {
        if let Some((function, number)) = key.split_once(':').and_then(|(f, n)| Some((f, n.parse().ok()?))) {
            self.remove(function, number);
        }
    }

    fn retain(&self, keys: &HashSet<String>) {
        for version in self.registry.published.all_versions() {
            let (function, number) = (&version.config.name, version.config.published.unwrap_or_default());
            if !keys.contains(&skiff_api::version::version_key(function, number)) {
                self.remove(function, number);
            }
        }
    }

    fn applied(&self, revision: Revision) {
        self.registry.published.versions_applied.mark(revision);
    }
}

pub(crate) struct AliasesFollower {
    pub(crate) registry: Arc<Registry>,
}

impl Follower for AliasesFollower {
    type Record = Alias;

    fn put(&self, _key: &str, alias: Alias, _revision: Revision) {
        self.registry.published.install_alias(alias);
    }

    fn delete(&self, key: &str) {
        if let Some((function, alias)) = key.split_once(':') {
            self.registry.published.remove_alias(function, alias);
        }
    }

    fn retain(&self, keys: &HashSet<String>) {
        for alias in self.registry.published.all_aliases() {
            if !keys.contains(&skiff_api::version::alias_key(&alias.function, &alias.name)) {
                self.registry.published.remove_alias(&alias.function, &alias.name);
            }
        }
    }

    fn applied(&self, revision: Revision) {
        self.registry.published.aliases_applied.mark(revision);
    }
}
