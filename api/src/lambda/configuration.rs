//! Skiff's functions in Lambda's output shapes: `FunctionConfiguration`, `GetFunction`'s
//! response and `GetAccountSettings`.

use crate::arn::function_arn;
use crate::function::{CodeInfo, FunctionConfig, WasmFormat};
use base64::Engine as _;
use serde::Serialize;
use std::collections::BTreeMap;

/// The `Runtime` Skiff reports for Wasm code, which has no Lambda runtime.
pub const WASM_MODULE_RUNTIME: &str = "skiff.wasm-module";
pub const WASM_COMPONENT_RUNTIME: &str = "skiff.wasm-component";

/// Lambda's `FunctionConfiguration`, as `GetFunctionConfiguration` returns it.
///
/// Deploys finish before the call that made them returns, so `State` is always `Active` and
/// `LastUpdateStatus` always `Successful`: the waiters `function-active-v2` and
/// `function-updated-v2` succeed on their first poll.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct FunctionConfiguration {
    pub function_name: String,
    pub function_arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    pub role: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handler: Option<String>,
    pub code_size: u64,
    pub description: String,
    pub timeout: u32,
    pub memory_size: u32,
    /// `2026-12-02T19:20:35.054+0000`, as Lambda writes it.
    pub last_modified: String,
    pub code_sha256: String,
    pub version: String,
    pub environment: Environment,
    pub revision_id: String,
    pub state: &'static str,
    pub last_update_status: &'static str,
    pub package_type: &'static str,
    pub architectures: [&'static str; 1],
    pub ephemeral_storage: EphemeralStorage,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Environment {
    pub variables: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct EphemeralStorage {
    pub size: u32,
}

impl FunctionConfiguration {
    /// `config` as Lambda shows it: the function's own config is `$LATEST` with an
    /// unqualified ARN, a published version's has its number in both.
    pub fn of(config: &FunctionConfig, region: &str) -> Self {
        let arn = function_arn(region, &config.name);
        let version = config.executed_version();
        let function_arn = match config.published {
            None => arn,
            Some(n) => format!("{arn}:{n}"),
        };
        Self {
            function_name: config.name.clone(),
            function_arn,
            runtime: config.zip.as_ref().map(|z| z.runtime.clone()).or_else(|| runtime(&config.code)),
            role: config.role.clone().unwrap_or_default(),
            handler: config.zip.as_ref().map(|z| z.handler.clone()),
            code_size: config.zip.as_ref().map_or_else(|| code_size(&config.code), |z| z.size),
            description: config.description.clone(),
            timeout: config.timeout_s,
            memory_size: config.memory_mb,
            last_modified: lambda_timestamp(config.updated_at_ms),
            code_sha256: config.zip.as_ref().map_or_else(|| code_sha256(&config.code), |z| base64_of_hex(&z.sha256)),
            version: version.to_string(),
            environment: Environment { variables: config.env.clone() },
            revision_id: config.revision_id.clone(),
            state: "Active",
            last_update_status: "Successful",
            package_type: if config.zip.is_some() { "Zip" } else { package_type(&config.code) },
            architectures: ["x86_64"],
            ephemeral_storage: EphemeralStorage { size: 512 },
        }
    }
}

fn runtime(code: &CodeInfo) -> Option<String> {
    match code {
        CodeInfo::Wasm { format: WasmFormat::Module, .. } => Some(WASM_MODULE_RUNTIME.into()),
        CodeInfo::Wasm { format: WasmFormat::Component, .. } => Some(WASM_COMPONENT_RUNTIME.into()),
        CodeInfo::Image { .. } => None,
    }
}

fn package_type(code: &CodeInfo) -> &'static str {
    match code {
        CodeInfo::Wasm { .. } => "Zip",
        CodeInfo::Image { .. } => "Image",
    }
}

fn code_size(code: &CodeInfo) -> u64 {
    match code {
        CodeInfo::Wasm { size, .. } => *size,
        CodeInfo::Image { .. } => 0,
    }
}

/// Lambda's `CodeSha256`: base64 of the code's SHA-256 (of the image's digest for images).
pub fn code_sha256(code: &CodeInfo) -> String {
    let hex_digest = match code {
        CodeInfo::Wasm { sha256, .. } => sha256.as_str(),
        CodeInfo::Image { id, .. } => id.strip_prefix("sha256:").unwrap_or(id),
    };
    base64_of_hex(hex_digest)
}

fn base64_of_hex(hex_digest: &str) -> String {
    match hex::decode(hex_digest) {
        Ok(bytes) => base64::engine::general_purpose::STANDARD.encode(bytes),
        Err(_) => hex_digest.to_string(),
    }
}

/// Unix milliseconds as Lambda's `LastModified`: `2026-12-02T19:20:35.054+0000`.
pub fn lambda_timestamp(ms: u64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]+0000");
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    at.format(&format).unwrap_or_default()
}

/// `GetFunction`'s response.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetFunctionResponse {
    pub configuration: FunctionConfiguration,
    pub code: CodeLocation,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<Concurrency>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CodeLocation {
    pub repository_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved_image_uri: Option<String>,
}

/// `Get/PutFunctionConcurrency`'s body.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Concurrency {
    pub reserved_concurrent_executions: u32,
}

impl GetFunctionResponse {
    pub fn of(config: &FunctionConfig, region: &str) -> Self {
        let code = match &config.code {
            CodeInfo::Wasm { .. } => CodeLocation { repository_type: "Skiff", image_uri: None, resolved_image_uri: None },
            CodeInfo::Image { image, id } => CodeLocation { repository_type: "ECR", image_uri: Some(image.clone()), resolved_image_uri: Some(id.clone()) },
        };
        Self {
            configuration: FunctionConfiguration::of(config, region),
            code,
            concurrency: config.concurrency.map(|n| Concurrency { reserved_concurrent_executions: n }),
        }
    }
}

/// `GetAccountSettings`: the node's concurrency limit and what the functions use of it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccountSettings {
    pub account_limit: AccountLimit,
    pub account_usage: AccountUsage,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccountLimit {
    pub total_code_size: u64,
    pub code_size_unzipped: u64,
    pub code_size_zipped: u64,
    pub concurrent_executions: u32,
    pub unreserved_concurrent_executions: u32,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccountUsage {
    pub total_code_size: u64,
    pub function_count: u64,
}

/// Lambda's own code size limits, which Skiff's deploy limits follow.
const TOTAL_CODE_SIZE: u64 = 80 * 1024 * 1024 * 1024;
const CODE_SIZE_UNZIPPED: u64 = 250 * 1024 * 1024;
const CODE_SIZE_ZIPPED: u64 = 50 * 1024 * 1024;

impl AccountSettings {
    /// `limit` is the concurrency limit; reserved concurrency is taken out of the unreserved part.
    pub fn of(functions: &[FunctionConfig], limit: u32) -> Self {
        let reserved: u32 = functions.iter().filter_map(|f| f.concurrency).sum();
        let total: u64 = functions.iter().map(|f| code_size(&f.code)).sum();
        Self {
            account_limit: AccountLimit {
                total_code_size: TOTAL_CODE_SIZE,
                code_size_unzipped: CODE_SIZE_UNZIPPED,
                code_size_zipped: CODE_SIZE_ZIPPED,
                concurrent_executions: limit,
                unreserved_concurrent_executions: limit.saturating_sub(reserved),
            },
            account_usage: AccountUsage { total_code_size: total, function_count: functions.len() as u64 },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wasm_function() -> FunctionConfig {
        FunctionConfig {
            name: "echo".into(),
            code: CodeInfo::Wasm { sha256: "00".repeat(32), size: 42, format: WasmFormat::Module },
            memory_mb: 256,
            timeout_s: 5,
            concurrency: Some(3),
            env: [("A".into(), "1".into())].into(),
            egress: false,
            provisioned: 0,
            events: Default::default(),
            role: Some("arn:aws:iam::000000000000:role/r".into()),
            description: "d".into(),
            revision_id: "rev".into(),
            version: 7,
            zip: None,
            published: None,
            last_published: 2,
            url: None,
            reuse: None,
            created_at_ms: 0,
            updated_at_ms: 1_764_703_235_054,
        }
    }

    #[test]
    fn configuration_has_lambdas_fields_and_formats() {
        let shown = serde_json::to_value(FunctionConfiguration::of(&wasm_function(), "us-east-1")).unwrap();
        assert_eq!(shown["FunctionArn"], "arn:aws:lambda:us-east-1:000000000000:function:echo");
        assert_eq!(shown["LastModified"], "2025-12-02T19:20:35.054+0000");
        assert_eq!(shown["CodeSha256"], "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
        assert_eq!(shown["Environment"]["Variables"]["A"], "1");
        assert_eq!((shown["State"].as_str(), shown["LastUpdateStatus"].as_str()), (Some("Active"), Some("Successful")));
        assert_eq!((shown["MemorySize"].as_u64(), shown["Timeout"].as_u64(), shown["CodeSize"].as_u64()), (Some(256), Some(5), Some(42)));
        assert_eq!(shown["Version"], "$LATEST");
        let numbered = FunctionConfiguration::of(&FunctionConfig { published: Some(3), ..wasm_function() }, "us-east-1");
        assert!(numbered.function_arn.ends_with(":echo:3"));
        assert_eq!(numbered.version, "3");
        let zip = crate::function::ZipInfo { sha256: "00".repeat(32), size: 9, runtime: "python3.11".into(), handler: "app.handler".into() };
        let image = CodeInfo::Image { image: "skiff-zip/echo:1".into(), id: "sha256:ff".into() };
        let zipped = serde_json::to_value(FunctionConfiguration::of(&FunctionConfig { zip: Some(zip), code: image, ..wasm_function() }, "us-east-1")).unwrap();
        assert_eq!(
            (zipped["Runtime"].as_str(), zipped["Handler"].as_str(), zipped["PackageType"].as_str()),
            (Some("python3.11"), Some("app.handler"), Some("Zip"))
        );
        assert_eq!((zipped["CodeSize"].as_u64(), zipped["CodeSha256"].as_str()), (Some(9), Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")));
    }

    #[test]
    fn account_settings_take_reserved_concurrency_out_of_the_unreserved_part() {
        let settings = AccountSettings::of(&[wasm_function()], 64);
        assert_eq!(settings.account_limit.unreserved_concurrent_executions, 61);
        assert_eq!(settings.account_usage.function_count, 1);
        assert_eq!(settings.account_usage.total_code_size, 42);
    }
}
