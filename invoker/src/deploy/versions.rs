//! Publishing versions and deleting them. A version is a frozen copy of the function's config
//! under the next number; its number is reserved on the function's own record first (by
//! compare-and-swap), so two publishes, on this node or another, never take the same one.
//! What a change is checked against is read from the config store, not from this node's
//! registry, which may not have seen a change just made on another node.

use super::Deployer;
use crate::error::InvokerError;
use skiff_api::version::version_key;
use skiff_api::{now_ms, FunctionConfig, VersionRef};
use skiff_state::config::Expect;

/// PublishVersion's options.
#[derive(Debug, Clone, Default)]
pub struct PublishRequest {
    pub function: String,
    /// The version's description; the function's when absent.
    pub description: Option<String>,
    /// Publish only while the function's `revision_id` is this one.
    pub if_revision: Option<String>,
    /// Publish only while the function's code is this (Lambda's base64 `CodeSha256`).
    pub if_code_sha256: Option<String>,
}

impl Deployer {
    /// Publishes the function's current config as its next version, or answers the last
    /// version when neither code nor configuration changed since (as Lambda does).
    pub async fn publish(&self, request: PublishRequest) -> Result<FunctionConfig, InvokerError> {
        let name = request.function.as_str();
        let _guard = self.control.lock().await;
        let latest = self.functions.get(name).await?.ok_or_else(|| InvokerError::NotFound(name.to_string()))?;
        let current = &latest.value;
        if request.if_revision.as_ref().is_some_and(|r| *r != current.revision_id) {
            return Err(InvokerError::StaleRevision { function: name.to_string() });
        }
        if let Some(expected) = &request.if_code_sha256 {
            let actual = skiff_api::lambda::code_sha256(&current.code);
            if *expected != actual {
                return Err(InvokerError::invalid(format!("CodeSha256 {expected} does not match the function's code ({actual})")));
            }
        }
        let last = self.versions.get(&version_key(name, current.last_published)).await?;
        if let Some(last) = last.filter(|v| current.publishes_like(&v.value)) {
            return Ok(last.value);
        }
        let number = current.last_published + 1;
        let counted = FunctionConfig { last_published: number, ..current.clone() };
        let counted_at = self.functions.put(name, &counted, Expect::At(latest.revision)).await?;
        let frozen = FunctionConfig {
            published: Some(number),
            last_published: 0,
            description: request.description.unwrap_or_else(|| current.description.clone()),
            revision_id: uuid::Uuid::new_v4().to_string(),
            updated_at_ms: now_ms(),
            ..current.clone()
        };
        let stored_at = self.versions.put(&version_key(name, number), &frozen, Expect::Absent).await?;
        self.registry.applied.wait(counted_at).await;
        self.registry.published.versions_applied.wait(stored_at).await;
        Ok(frozen)
    }

    /// Deletes a published version no alias routes to.
    pub async fn delete_version(&self, function: &str, number: u32) -> Result<(), InvokerError> {
        let _guard = self.control.lock().await;
        let key = version_key(function, number);
        let version = self.versions.get(&key).await?.ok_or_else(|| InvokerError::NotFound(key.clone()))?;
        let (aliases, _) = self.aliases.list().await?;
        let users: Vec<String> = aliases
            .into_iter()
            .map(|stored| stored.value)
            .filter(|a| a.function == function && a.versions().any(|v| v == VersionRef::Published(number)))
            .map(|a| a.name)
            .collect();
        if !users.is_empty() {
            return Err(InvokerError::VersionInUse { function: function.to_string(), version: number, aliases: users });
        }
        let deleted_at = self.versions.delete(&key, Expect::At(version.revision)).await?;
        self.registry.published.versions_applied.wait(deleted_at).await;
        if let Some(sha) = version.value.blob() {
            self.collect_code(sha).await?;
        }
        Ok(())
    }
}
