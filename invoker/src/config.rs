use crate::InvokerError;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const DEFAULT_MEMORY_MB: u32 = 128;
pub const DEFAULT_TIMEOUT_S: u32 = 3;
const MEMORY_RANGE_MB: std::ops::RangeInclusive<u32> = 128..=10240;
const TIMEOUT_RANGE_S: std::ops::RangeInclusive<u32> = 1..=900;

/// A deployed function as persisted and as shown by the API.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FunctionConfig {
    pub name: String,
    pub code: CodeInfo,
    pub memory_mb: u32,
    pub timeout_s: u32,
    /// Reserved concurrency; `None` means the function shares the global limit.
    pub concurrency: Option<u32>,
    pub env: BTreeMap<String, String>,
    /// Container functions only: attach a network so the function can make outbound calls.
    #[serde(default)]
    pub egress: bool,
    /// Container functions only: containers kept started ahead of demand.
    #[serde(default)]
    pub provisioned: u32,
    /// Asynchronous invocations: retries, maximum event age, on-success destination.
    #[serde(default)]
    pub events: crate::EventConfig,
    /// Increases by one with every deploy of this name.
    pub version: u64,
    /// Unix milliseconds.
    pub created_at_ms: u64,
    pub updated_at_ms: u64,
}

/// The function's code: a Wasm blob stored once per content hash, or a local Docker image.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CodeInfo {
    Wasm { sha256: String, size: u64, format: WasmFormat },
    /// `image` as the user named it; `id` is what it resolved to at deploy time and what runs.
    Image { image: String, id: String },
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum WasmFormat {
    /// WASI preview 1 core module.
    Module,
    /// WASI preview 2 component.
    Component,
}

impl CodeInfo {
    /// The stored Wasm blob this code refers to, if any.
    pub fn sha256(&self) -> Option<&str> {
        match self {
            CodeInfo::Wasm { sha256, .. } => Some(sha256),
            CodeInfo::Image { .. } => None,
        }
    }
}

/// Upper bound on provisioned containers per function, so a typo cannot start thousands.
const MAX_PROVISIONED: u32 = 64;

/// A create-or-update. Fields left `None` keep their current value on update and take Lambda's
/// defaults on create; `wasm` may be omitted only on update (configuration-only change).
#[derive(Debug, Clone, Default)]
pub struct DeployRequest {
    pub name: String,
    pub wasm: Option<Bytes>,
    /// A Docker image reference in the local engine; exclusive with `wasm`.
    pub image: Option<String>,
    pub egress: Option<bool>,
    pub provisioned: Option<u32>,
    pub memory_mb: Option<u32>,
    pub timeout_s: Option<u32>,
    /// `Some(None)` clears a reserved concurrency.
    pub concurrency: Option<Option<u32>>,
    pub env: Option<BTreeMap<String, String>>,
    pub events: crate::EventConfigUpdate,
}

pub fn validate_name(name: &str) -> Result<(), InvokerError> {
    let ok = (1..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(InvokerError::Invalid(format!(
            "invalid function name {name:?}: must match [A-Za-z0-9_-]{{1,64}}"
        )))
    }
}

impl DeployRequest {
    /// Checks every field that does not need the code; called before anything is compiled or
    /// stored.
    pub(crate) fn validate(&self) -> Result<(), InvokerError> {
        validate_name(&self.name)?;
        if self.wasm.is_some() && self.image.is_some() {
            return Err(InvokerError::Invalid("give either wasm code or an image, not both".into()));
        }
        if let Some(image) = &self.image {
            let ok = !image.is_empty()
                && image.len() <= 255
                && image.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-/:@".contains(&b));
            if !ok {
                return Err(InvokerError::Invalid(format!("invalid image reference {image:?}")));
            }
        }
        if let Some(p) = self.provisioned.filter(|p| *p > MAX_PROVISIONED) {
            return Err(InvokerError::Invalid(format!(
                "provisioned concurrency {p} is too high: at most {MAX_PROVISIONED}"
            )));
        }
        if let (Some(p), Some(Some(c))) = (self.provisioned, self.concurrency) {
            if p > c {
                return Err(InvokerError::Invalid(format!(
                    "provisioned concurrency {p} exceeds the function's concurrency {c}"
                )));
            }
        }
        if let Some(m) = self.memory_mb.filter(|m| !MEMORY_RANGE_MB.contains(m)) {
            return Err(InvokerError::Invalid(format!(
                "memory {m} MB is out of range: must be between 128 and 10240 MB"
            )));
        }
        if let Some(t) = self.timeout_s.filter(|t| !TIMEOUT_RANGE_S.contains(t)) {
            return Err(InvokerError::Invalid(format!(
                "timeout {t} s is out of range: must be between 1 and 900 seconds"
            )));
        }
        if let Some(Some(0)) = self.concurrency {
            return Err(InvokerError::Invalid("concurrency must be at least 1".into()));
        }
        self.events.validate()?;
        for key in self.env.iter().flat_map(|e| e.keys()) {
            validate_env_key(key)?;
        }
        Ok(())
    }
}

fn validate_env_key(key: &str) -> Result<(), InvokerError> {
    let mut bytes = key.bytes();
    let well_formed = bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !well_formed {
        return Err(InvokerError::Invalid(format!(
            "invalid environment variable name {key:?}: must match [A-Za-z][A-Za-z0-9_]*"
        )));
    }
    if key.starts_with("AWS_LAMBDA_") {
        return Err(InvokerError::Invalid(format!(
            "environment variable {key} is reserved: AWS_LAMBDA_* variables are set by the platform"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_lambda_rules() {
        assert!(validate_name("hello_World-1").is_ok());
        assert!(validate_name(&"a".repeat(64)).is_ok());
        for bad in ["", "a/b", "sp ace", "dot.ted", "ünï", &"a".repeat(65)] {
            assert!(validate_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn settings_are_range_checked() {
        let req = |f: fn(&mut DeployRequest)| {
            let mut r = DeployRequest { name: "f".into(), ..Default::default() };
            f(&mut r);
            r.validate()
        };
        assert!(req(|r| r.memory_mb = Some(128)).is_ok());
        assert!(req(|r| r.memory_mb = Some(10240)).is_ok());
        assert!(req(|r| r.memory_mb = Some(127)).is_err());
        assert!(req(|r| r.memory_mb = Some(10241)).is_err());
        assert!(req(|r| r.timeout_s = Some(0)).is_err());
        assert!(req(|r| r.timeout_s = Some(901)).is_err());
        assert!(req(|r| r.concurrency = Some(Some(0))).is_err());
        assert!(req(|r| r.concurrency = Some(None)).is_ok());
        assert!(req(|r| r.env = Some([("AWS_LAMBDA_X".into(), "1".into())].into())).is_err());
        assert!(req(|r| r.env = Some([("1X".into(), "1".into())].into())).is_err());
        assert!(req(|r| r.env = Some([("GREETING".into(), "hi".into())].into())).is_ok());
    }
}
