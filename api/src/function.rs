//! A function as deployed, and the deploy request in its two shapes: [`DeployBody`] on the
//! wire (JSON, code in base64) and [`DeployRequest`] once decoded.

pub use crate::change::{DeployMode, MAX_DESCRIPTION};
use crate::error::Invalid;
use crate::events::{Destination, EventConfig, EventConfigUpdate};
use crate::names::{check_env_key, check_function_name, check_image_reference};
use crate::version::VersionRef;
use base64::Engine as _;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const DEFAULT_MEMORY_MB: u32 = 128;
pub const DEFAULT_TIMEOUT_S: u32 = 3;
pub const MEMORY_RANGE_MB: std::ops::RangeInclusive<u32> = 128..=10240;
pub const TIMEOUT_RANGE_S: std::ops::RangeInclusive<u32> = 1..=900;

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
    pub events: EventConfig,
    /// Lambda's execution role ARN: kept and shown, not used (there is no IAM to assume).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Changes with every deploy, so an update can say which state it was computed from
    /// (Lambda's `RevisionId`); a random id rather than the store's revision, so every node
    /// shows the same one.
    #[serde(default)]
    pub revision_id: String,
    /// Increases by one with every deploy of this name.
    pub version: u64,
    /// A zip function's code: what the caller sent and which runtime runs it (`code` is then
    /// the image derived from the runtime's with the code in `/var/task`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zip: Option<ZipInfo>,
    /// Set on a published version's frozen copy: its number. `None` on the function itself
    /// (Lambda's `$LATEST`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<u32>,
    /// The number the last publish took: the next one takes the one after, so a number is
    /// never reused, even after its version was deleted.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub last_published: u32,
    /// Who may call the function's URL; `None`: no URL config (the server's authentication).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<crate::url_config::UrlConfig>,
    /// Keep Wasm instances between calls (`wasi:http` components); `None`: a fresh instance
    /// for every call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reuse: Option<Reuse>,
    /// Unix milliseconds.
    pub created_at_ms: u64,
    pub updated_at_ms: u64,
}

/// A zip function's package, as Lambda describes it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ZipInfo {
    /// Hex SHA-256 of the zip as sent (Lambda's `CodeSha256` is its base64).
    pub sha256: String,
    pub size: u64,
    pub runtime: String,
    pub handler: String,
}

/// Warm instance reuse: an instance serves at most `max_calls` calls, one at a time, and is
/// dropped `idle_s` seconds after its last one (or at once after a trap, a timeout or hitting
/// its memory cap). Globals survive between the calls of one instance, as in a Lambda
/// execution environment.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Reuse {
    #[serde(default = "Reuse::default_max_calls")]
    pub max_calls: u32,
    #[serde(default = "Reuse::default_idle_s")]
    pub idle_s: u32,
}

impl Reuse {
    pub const MAX_CALLS_RANGE: std::ops::RangeInclusive<u32> = 1..=1_000_000;
    pub const IDLE_RANGE_S: std::ops::RangeInclusive<u32> = 1..=3600;

    fn default_max_calls() -> u32 {
        10_000
    }

    fn default_idle_s() -> u32 {
        300
    }

    fn check(&self) -> Result<(), Invalid> {
        if !Self::MAX_CALLS_RANGE.contains(&self.max_calls) {
            return Err(Invalid(format!("reuse.max_calls {} is outside {:?}", self.max_calls, Self::MAX_CALLS_RANGE)));
        }
        if !Self::IDLE_RANGE_S.contains(&self.idle_s) {
            return Err(Invalid(format!("reuse.idle_s {} is outside {:?}", self.idle_s, Self::IDLE_RANGE_S)));
        }
        Ok(())
    }
}

impl Default for Reuse {
    fn default() -> Self {
        Self { max_calls: Self::default_max_calls(), idle_s: Self::default_idle_s() }
    }
}

/// Lambda's limit on a zip sent in the request (50 MB).
pub const MAX_ZIP_BYTES: usize = 50 * 1024 * 1024;

/// The function's code: a Wasm blob stored once per content hash, or a local Docker image.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CodeInfo {
    Wasm {
        sha256: String,
        size: u64,
        format: WasmFormat,
    },
    /// `image` as the user named it; `id` is what it resolved to at deploy time and what runs.
    Image {
        image: String,
        id: String,
    },
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum WasmFormat {
    /// WASI preview 1 core module.
    Module,
    /// WASI preview 2 component.
    Component,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl FunctionConfig {
    /// Which version this config is: `$LATEST`, or the number it was published as.
    pub fn executed_version(&self) -> VersionRef {
        self.published.map_or(VersionRef::Latest, VersionRef::Published)
    }

    /// The stored blob this function's code needs: the Wasm, or a zip function's zip.
    pub fn blob(&self) -> Option<&str> {
        self.code.sha256().or(self.zip.as_ref().map(|z| z.sha256.as_str()))
    }

    /// The image a zip function runs (built from its runtime's with the zip); `None` for any
    /// other function.
    pub fn zip_image(&self) -> Option<&str> {
        match (&self.code, &self.zip) {
            (CodeInfo::Image { image, .. }, Some(_)) => Some(image),
            _ => None,
        }
    }

    /// Whether a worker built for `self` can serve `other` unchanged: same code and the same
    /// settings the worker bakes in. A change of anything else (concurrency, event settings,
    /// description, the publish counter) keeps the warm instances and containers.
    pub fn runs_like(&self, other: &FunctionConfig) -> bool {
        self.name == other.name
            && self.code == other.code
            && self.memory_mb == other.memory_mb
            && self.timeout_s == other.timeout_s
            && self.env == other.env
            && self.egress == other.egress
            && self.provisioned == other.provisioned
            && self.published == other.published
            && self.reuse == other.reuse
    }

    /// Whether publishing `self` would make a version that differs from `published`: Lambda
    /// publishes nothing new while the code and the configuration are unchanged.
    pub fn publishes_like(&self, published: &FunctionConfig) -> bool {
        self.code == published.code
            && self.memory_mb == published.memory_mb
            && self.timeout_s == published.timeout_s
            && self.env == published.env
            && self.egress == published.egress
            && self.role == published.role
            && self.reuse == published.reuse
    }
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
/// Reserved concurrency above this is a typo (Lambda's default account limit is 1000). Zero is
/// allowed: as on Lambda, it turns every call away.
const MAX_RESERVED: u32 = 10_000;
/// A create-or-update. Fields left `None` keep their current value on update and take Lambda's
/// defaults on create; `wasm` may be omitted only on update (configuration-only change).
#[derive(Debug, Clone, Default)]
pub struct DeployRequest {
    pub name: String,
    pub mode: DeployMode,
    /// Applies only while the function's `revision_id` is this one (Lambda's `RevisionId`).
    pub if_revision: Option<String>,
    pub role: Option<String>,
    pub description: Option<String>,
    pub wasm: Option<Bytes>,
    /// A Docker image reference in the local engine; exclusive with `wasm`.
    pub image: Option<String>,
    /// A zip for a managed runtime; exclusive with `wasm` and `image`.
    pub zip: Option<Bytes>,
    /// A zip function's runtime (`python3.11`) and handler (`app.handler`); on an update,
    /// absent keeps the current one.
    pub runtime: Option<String>,
    pub handler: Option<String>,
    pub egress: Option<bool>,
    pub provisioned: Option<u32>,
    pub memory_mb: Option<u32>,
    pub timeout_s: Option<u32>,
    /// `Some(None)` clears a reserved concurrency.
    pub concurrency: Option<Option<u32>>,
    pub env: Option<BTreeMap<String, String>>,
    pub events: EventConfigUpdate,
    /// The URL config: `Some(Some(auth))` sets it, `Some(None)` removes it, `None` keeps it.
    pub url: Option<Option<crate::url_config::UrlAuth>>,
    /// `Some(Some(..))` turns instance reuse on, `Some(None)` off, `None` keeps it.
    pub reuse: Option<Option<Reuse>>,
}

impl DeployRequest {
    /// Checks every field that does not need the code; called before anything is compiled or
    /// stored.
    pub fn validate(&self) -> Result<(), Invalid> {
        check_function_name(&self.name)?;
        if [self.wasm.is_some(), self.image.is_some(), self.zip.is_some()].iter().filter(|given| **given).count() > 1 {
            return Err(Invalid("give one kind of code (wasm, an image or a zip), not both".into()));
        }
        check_zip(self.zip.as_deref(), self.runtime.as_deref(), self.handler.as_deref())?;
        if let Some(image) = &self.image {
            check_image_reference(image)?;
        }
        if let Some(p) = self.provisioned.filter(|p| *p > MAX_PROVISIONED) {
            return Err(Invalid(format!("provisioned concurrency {p} is too high: at most {MAX_PROVISIONED}")));
        }
        if let (Some(p), Some(Some(c))) = (self.provisioned, self.concurrency) {
            if p > c {
                return Err(Invalid(format!("provisioned concurrency {p} exceeds the function's concurrency {c}")));
            }
        }
        if let Some(m) = self.memory_mb.filter(|m| !MEMORY_RANGE_MB.contains(m)) {
            return Err(Invalid(format!("memory {m} MB is out of range: must be between 128 and 10240 MB")));
        }
        if let Some(t) = self.timeout_s.filter(|t| !TIMEOUT_RANGE_S.contains(t)) {
            return Err(Invalid(format!("timeout {t} s is out of range: must be between 1 and 900 seconds")));
        }
        if let Some(Some(reuse)) = &self.reuse {
            reuse.check()?;
        }
        if let Some(Some(c)) = self.concurrency.filter(|c| c.is_some_and(|c| c > MAX_RESERVED)) {
            return Err(Invalid(format!("concurrency {c} is too high: at most {MAX_RESERVED}")));
        }
        if let Some(d) = self.description.as_ref().filter(|d| d.chars().count() > MAX_DESCRIPTION) {
            return Err(Invalid(format!("description is {} characters long: at most {MAX_DESCRIPTION}", d.chars().count())));
        }
        self.events.validate()?;
        for key in self.env.iter().flat_map(|e| e.keys()) {
            check_env_key(key)?;
        }
        Ok(())
    }
}

/// Lambda's rules for a zip function: the runtime's name, `module.function` as the handler
/// (it becomes the runtime client's command), at most 50 MB of zip.
fn check_zip(zip: Option<&[u8]>, runtime: Option<&str>, handler: Option<&str>) -> Result<(), Invalid> {
    if let Some(runtime) = runtime.filter(|r| !((1..=32).contains(&r.len()) && r.bytes().all(|b| b.is_ascii_alphanumeric() || b".-_".contains(&b)))) {
        return Err(Invalid(format!("Runtime {runtime:?} is not a runtime name")));
    }
    let handler_ok = |h: &str| (1..=128).contains(&h.len()) && h.contains('.') && h.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-/".contains(&b));
    if let Some(handler) = handler.filter(|h| !handler_ok(h)) {
        return Err(Invalid(format!("Handler {handler:?} must be MODULE.FUNCTION, e.g. app.handler")));
    }
    if let Some(size) = zip.map(<[u8]>::len).filter(|n| *n > MAX_ZIP_BYTES) {
        return Err(Invalid(format!("Code.ZipFile is {size} bytes: at most {MAX_ZIP_BYTES}")));
    }
    Ok(())
}

/// `PUT /v1/functions/{name}`: the deploy request on the wire, as the CLI sends it and the
/// gateway reads it. Absent fields keep their value on update.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DeployBody {
    /// The Wasm module or component, base64-encoded. Omit to change only configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wasm_base64: Option<String>,
    /// A container image in the server's Docker engine (exclusive with `wasm_base64`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// A zip of the code for a managed runtime, base64-encoded (exclusive with the other codes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zip_base64: Option<String>,
    /// A zip function's runtime (`python3.11`); required with a new zip function.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    /// A zip function's handler, `MODULE.FUNCTION` (`app.handler`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handler: Option<String>,
    /// Container functions: give the container a network for outbound calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress: Option<bool>,
    /// Container functions: containers kept started ahead of demand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioned: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_s: Option<u32>,
    /// A number sets reserved concurrency, `null` clears it, absent keeps it.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<Option<u32>>,
    /// Instance reuse (Wasm `wasi:http` components): an object turns it on (`{}` takes the
    /// defaults), `null` turns it off, absent keeps it.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub reuse: Option<Option<Reuse>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<BTreeMap<String, String>>,
    /// Asynchronous invocation settings; absent fields keep their values.
    #[serde(default, skip_serializing_if = "EventsBody::is_empty")]
    pub events: EventsBody,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EventsBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_event_age_s: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_delay_ms: Option<u32>,
    /// `function:NAME` or `queue:NAME`; `null` clears it.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub on_success: Option<Option<String>>,
}

impl EventsBody {
    fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Tells "field absent" (outer `None`, by `default`) from "field is null" (`Some(None)`).
fn present<'de, T: Deserialize<'de>, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Why a deploy body could not be decoded into a request.
#[derive(Debug, thiserror::Error)]
pub enum DeployBodyError {
    /// The body itself is malformed: a code field is not base64.
    #[error("{field} is not valid base64: {source}")]
    Base64 { field: &'static str, source: base64::DecodeError },
    /// A setting is not acceptable.
    #[error(transparent)]
    Setting(#[from] Invalid),
}

impl DeployBody {
    /// Decodes the code and the destination; the settings themselves are checked by
    /// [`DeployRequest::validate`].
    pub fn into_request(self, name: &str) -> Result<DeployRequest, DeployBodyError> {
        let wasm = decoded("wasm_base64", self.wasm_base64)?;
        let zip = decoded("zip_base64", self.zip_base64)?;
        let on_success = match self.events.on_success {
            None => None,
            Some(None) => Some(None),
            Some(Some(d)) => Some(Some(d.parse::<Destination>()?)),
        };
        Ok(DeployRequest {
            name: name.to_string(),
            wasm,
            zip,
            runtime: self.runtime,
            handler: self.handler,
            mode: DeployMode::Upsert,
            if_revision: None,
            role: None,
            description: None,
            image: self.image,
            egress: self.egress,
            provisioned: self.provisioned,
            memory_mb: self.memory_mb,
            timeout_s: self.timeout_s,
            concurrency: self.concurrency,
            env: self.env,
            url: None,
            reuse: self.reuse,
            events: EventConfigUpdate {
                max_retries: self.events.max_retries,
                max_event_age_s: self.events.max_event_age_s,
                retry_delay_ms: self.events.retry_delay_ms,
                on_success,
                explicit: None,
            },
        })
    }

    /// Sets the code from the module's or component's bytes.
    pub fn with_wasm(mut self, code: &[u8]) -> Self {
        self.wasm_base64 = Some(base64::engine::general_purpose::STANDARD.encode(code));
        self
    }

    /// Sets the code from a zip's bytes, for the managed runtime in `runtime`.
    pub fn with_zip(mut self, zip: &[u8]) -> Self {
        self.zip_base64 = Some(base64::engine::general_purpose::STANDARD.encode(zip));
        self
    }
}

/// The bytes of a base64 code field, if given.
fn decoded(field: &'static str, b64: Option<String>) -> Result<Option<Bytes>, DeployBodyError> {
    b64.map(|b| base64::engine::general_purpose::STANDARD.decode(b).map(Bytes::from).map_err(|source| DeployBodyError::Base64 { field, source })).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_body_round_trips_and_tells_null_from_absent() {
        let body: DeployBody = serde_json::from_str(r#"{"concurrency":null,"events":{"on_success":"queue:q"}}"#).unwrap();
        assert_eq!(body.concurrency, Some(None));
        let again: DeployBody = serde_json::from_str(&serde_json::to_string(&body).unwrap()).unwrap();
        assert_eq!(again, body);
        let request = body.into_request("f").unwrap();
        assert_eq!(request.concurrency, Some(None));
        assert_eq!(request.events.on_success, Some(Some(Destination::Queue("q".into()))));
        let absent: DeployBody = serde_json::from_str("{}").unwrap();
        assert_eq!(absent.concurrency, None);
        assert_eq!(serde_json::to_string(&absent).unwrap(), "{}");
        let bad = DeployBody { wasm_base64: Some("!!".into()), ..Default::default() };
        assert!(bad.into_request("f").is_err());
        let zip = DeployBody { runtime: Some("python3.11".into()), handler: Some("app.handler".into()), ..Default::default() }.with_zip(b"PK");
        let request = zip.into_request("f").unwrap();
        assert_eq!((request.zip.as_deref(), request.runtime.as_deref()), (Some(&b"PK"[..]), Some("python3.11")));
        let bad = DeployBody { zip_base64: Some("!!".into()), ..Default::default() };
        assert!(bad.into_request("f").unwrap_err().to_string().starts_with("zip_base64 "));
        assert!(serde_json::from_str::<DeployBody>(r#"{"colour":1}"#).is_err());
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
        assert!(req(|r| r.concurrency = Some(Some(0))).is_ok(), "zero throttles every call, as on Lambda");
        assert!(req(|r| r.concurrency = Some(Some(10_001))).is_err());
        assert!(req(|r| r.description = Some("x".repeat(257))).is_err());
        assert!(req(|r| r.concurrency = Some(None)).is_ok());
        assert!(req(|r| r.env = Some([("AWS_LAMBDA_X".into(), "1".into())].into())).is_err());
        assert!(req(|r| r.env = Some([("1X".into(), "1".into())].into())).is_err());
        assert!(req(|r| r.env = Some([("GREETING".into(), "hi".into())].into())).is_ok());
    }
}
