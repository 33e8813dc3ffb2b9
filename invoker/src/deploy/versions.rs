//! Publishing versions and deleting them. A version is a frozen copy of the function's config
//! under the next number; its number is reserved on the function's own record first (by
//! compare-and-swap), so two publishes, on this node or another, never take the same one.

use super::Deployer;
use crate::InvokerError;
use skiff_api::version::version_key;
use skiff_api::{now_ms, FunctionConfig};
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
        let latest = self.registry.lookup(name)?;
        if request.if_revision.as_ref().is_some_and(|r| *r != latest.config.revision_id) {
            return Err(InvokerError::StaleRevision { function: name.to_string() });
        }
        if let Some(expected) = &request.if_code_sha256 {
            let actual = skiff_api::lambda::code_sha256(&latest.config.code);
            if *expected != actual {
                return Err(InvokerError::invalid(format!("CodeSha256 {expected} does not match the function's code ({actual})")));
            }
        }
        if let Some(last) = self.registry.published.versions_of(name).pop().filter(|v| latest.config.publishes_like(&v.config)) {
            return Ok(last.config.clone());
        }
        let number = latest.config.last_published + 1;
        let counted = FunctionConfig { last_published: number, ..latest.config.clone() };
        let counted_at = self.functions.put(name, &counted, Expect::At(latest.revision)).await?;
        let frozen = FunctionConfig {
            published: Some(number),
            last_published: 0,
            description: request.description.unwrap_or_else(|| latest.config.description.clone()),
            revision_id: uuid::Uuid::new_v4().to_string(),
            updated_at_ms: now_ms(),
            ..latest.config.clone()
        };
        let stored_at = self.versions.put(&version_key(name, number), &frozen, Expect::Absent).await?;
        self.registry.applied.wait(counted_at).await;
        self.registry.published.versions_applied.wait(stored_at).await;
        Ok(frozen)
    }

    /// Deletes a published version no alias routes to.
    pub async fn delete_version(&self, function: &str, number: u32) -> Result<(), InvokerError> {
        let _guard = self.control.lock().await;
        let version = self.registry.lookup_version(function, skiff_api::VersionRef::Published(number))?;
        let users: Vec<String> = self
            .registry
            .published
            .aliases_of(function)
            .into_iter()
            .filter(|a| a.versions().any(|v| v == skiff_api::VersionRef::Published(number)))
            .map(|a| a.name)
            .collect();
        if !users.is_empty() {
            return Err(InvokerError::VersionInUse { function: function.to_string(), version: number, aliases: users });
        }
        let deleted_at = self.versions.delete(&version_key(function, number), Expect::At(version.revision)).await?;
        self.registry.published.versions_applied.wait(deleted_at).await;
        if let Some(sha) = version.config.code.sha256() {
            self.collect_code(sha).await?;
        }
        Ok(())
    }
}
