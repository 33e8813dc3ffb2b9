//! Creating, updating and deleting aliases. An alias may only name versions that exist, and is
//! written with compare-and-swap on the revision it was read at. Both are read from the config
//! store, so a version published on another node a moment ago counts.

use super::Deployer;
use crate::error::InvokerError;
use skiff_api::version::{alias_key, version_key, AliasRequest};
use skiff_api::{Alias, VersionRef};
use skiff_state::config::Expect;

impl Deployer {
    /// Creates or updates an alias (by `request.mode`).
    pub async fn put_alias(&self, request: AliasRequest) -> Result<Alias, InvokerError> {
        let (function, name) = (request.function.as_str(), request.name.as_str());
        let _guard = self.control.lock().await;
        if self.functions.get(function).await?.is_none() {
            return Err(InvokerError::NotFound(function.to_string()));
        }
        let qualified = alias_key(function, name);
        let old = self.aliases.get(&qualified).await?.map(|stored| (stored.value, stored.revision));
        let current = old.as_ref().map(|(alias, _)| alias.revision_id.as_str());
        super::admissible(request.mode, request.if_revision.as_deref(), current, "Alias", &qualified)?;
        let alias = request.apply(old.as_ref().map(|(a, _)| a), uuid::Uuid::new_v4().to_string())?;
        for number in alias.versions().filter_map(|v| match v {
            VersionRef::Published(n) => Some(n),
            VersionRef::Latest => None,
        }) {
            if self.versions.get(&version_key(function, number)).await?.is_none() {
                return Err(InvokerError::NotFound(version_key(function, number)));
            }
        }
        let expect = old.as_ref().map_or(Expect::Absent, |(_, revision)| Expect::At(*revision));
        let stored_at = self.aliases.put(&qualified, &alias, expect).await?;
        self.registry.published.aliases_applied.wait(stored_at).await;
        Ok(alias)
    }

    pub async fn delete_alias(&self, function: &str, name: &str) -> Result<(), InvokerError> {
        let _guard = self.control.lock().await;
        let qualified = alias_key(function, name);
        let stored = self.aliases.get(&qualified).await?.ok_or_else(|| InvokerError::NotFound(qualified.clone()))?;
        let deleted_at = self.aliases.delete(&qualified, Expect::At(stored.revision)).await?;
        self.registry.published.aliases_applied.wait(deleted_at).await;
        Ok(())
    }
}
