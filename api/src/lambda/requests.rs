//! CreateFunction, UpdateFunctionConfiguration and UpdateFunctionCode bodies, turned into
//! Skiff's [`DeployRequest`]. Fields Skiff implements are checked with Lambda's limits and
//! named in the error; fields that would change behaviour Skiff does not have (VPCs, layers,
//! file systems, code signing, KMS, arm64) are refused rather than silently dropped; fields
//! with no effect here (tags, tracing, logging, ephemeral storage) are accepted and ignored.

use super::field_error;
use crate::error::Invalid;
use crate::function::{DeployMode, DeployRequest, MAX_DESCRIPTION, MEMORY_RANGE_MB, TIMEOUT_RANGE_S};
use crate::names::{check_env_key, check_function_name, check_image_reference};
use base64::Engine as _;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateFunction {
    pub function_name: String,
    pub role: Option<String>,
    pub code: Option<FunctionCode>,
    pub runtime: Option<String>,
    pub handler: Option<String>,
    pub description: Option<String>,
    pub timeout: Option<u32>,
    pub memory_size: Option<u32>,
    #[serde(default)]
    pub publish: bool,
    pub package_type: Option<String>,
    pub environment: Option<EnvironmentBody>,
    #[serde(flatten)]
    pub unsupported: Unsupported,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FunctionCode {
    /// The zip, base64-encoded (the SDKs encode it).
    pub zip_file: Option<String>,
    pub image_uri: Option<String>,
    pub s3_bucket: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EnvironmentBody {
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
}

/// Fields that would change behaviour Skiff does not implement: refused when set.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Unsupported {
    vpc_config: Option<Value>,
    layers: Option<Vec<Value>>,
    dead_letter_config: Option<Value>,
    file_system_configs: Option<Vec<Value>>,
    #[serde(rename = "KMSKeyArn")]
    kms_key_arn: Option<String>,
    code_signing_config_arn: Option<String>,
    image_config: Option<Value>,
    architectures: Option<Vec<String>>,
}

impl Unsupported {
    fn check(&self) -> Result<(), Invalid> {
        let set = |v: &Option<Value>| v.as_ref().is_some_and(|v| !is_empty_setting(v));
        let refuse = |field: &str, why: &str| Err(field_error(field, format!("not supported by Skiff: {why}")));
        if set(&self.vpc_config) {
            return refuse("VpcConfig", "functions run on the node's own network (container functions opt into egress)");
        }
        if self.layers.as_ref().is_some_and(|l| !l.is_empty()) {
            return refuse("Layers", "put the layer's files into the zip or the image");
        }
        if set(&self.dead_letter_config) {
            return refuse("DeadLetterConfig", "failed events are kept in the function's own dead-letter store");
        }
        if self.file_system_configs.as_ref().is_some_and(|f| !f.is_empty()) {
            return refuse("FileSystemConfigs", "there is no shared file system");
        }
        if self.kms_key_arn.as_ref().is_some_and(|k| !k.is_empty()) {
            return refuse("KMSKeyArn", "there is no KMS");
        }
        if self.code_signing_config_arn.as_ref().is_some_and(|k| !k.is_empty()) {
            return refuse("CodeSigningConfigArn", "code is not signed");
        }
        if set(&self.image_config) {
            return refuse("ImageConfig", "the image's own entrypoint and command run");
        }
        match self.architectures.as_deref() {
            None | Some([]) => Ok(()),
            Some([one]) if one == "x86_64" => Ok(()),
            Some(other) => Err(field_error("Architectures", format!("{other:?} is not supported: only [\"x86_64\"]"))),
        }
    }
}

/// `{}`, `[]`, `null` and objects of only empty members set nothing.
fn is_empty_setting(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.values().all(is_empty_setting),
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}

/// What a function's code is on the wire, decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum Code {
    Image(String),
    Zip(Bytes),
}

fn decode_code(code: &FunctionCode) -> Result<Code, Invalid> {
    if code.s3_bucket.is_some() {
        return Err(field_error("Code.S3Bucket", "not supported by Skiff (there is no S3): send Code.ZipFile"));
    }
    match (&code.zip_file, &code.image_uri) {
        (Some(_), Some(_)) => Err(field_error("Code", "give either ZipFile or ImageUri, not both")),
        (Some(zip), None) => {
            let bytes = base64::engine::general_purpose::STANDARD.decode(zip).map_err(|e| field_error("Code.ZipFile", e))?;
            Ok(Code::Zip(Bytes::from(bytes)))
        }
        (None, Some(image)) => {
            check_image_reference(image).map_err(|e| field_error("Code.ImageUri", e))?;
            Ok(Code::Image(image.clone()))
        }
        (None, None) => Err(field_error("Code", "ZipFile or ImageUri is required")),
    }
}

/// The settings every create or update may carry, checked under Lambda's field names.
struct Settings<'a> {
    description: &'a Option<String>,
    timeout: Option<u32>,
    memory_size: Option<u32>,
    environment: &'a Option<EnvironmentBody>,
}

impl Settings<'_> {
    fn apply(&self, request: &mut DeployRequest) -> Result<(), Invalid> {
        if let Some(m) = self.memory_size.filter(|m| !MEMORY_RANGE_MB.contains(m)) {
            return Err(field_error("MemorySize", format!("{m} is out of range: 128 to 10240 MB")));
        }
        if let Some(t) = self.timeout.filter(|t| !TIMEOUT_RANGE_S.contains(t)) {
            return Err(field_error("Timeout", format!("{t} is out of range: 1 to 900 seconds")));
        }
        if let Some(d) = self.description.as_ref().filter(|d| d.chars().count() > MAX_DESCRIPTION) {
            return Err(field_error("Description", format!("{} characters: at most {MAX_DESCRIPTION}", d.chars().count())));
        }
        if let Some(env) = self.environment {
            for key in env.variables.keys() {
                check_env_key(key).map_err(|e| field_error("Environment.Variables", e))?;
            }
            request.env = Some(env.variables.clone());
        }
        request.memory_mb = self.memory_size;
        request.timeout_s = self.timeout;
        request.description = self.description.clone();
        Ok(())
    }
}

/// The code of a create or update as a deploy request's code. Zip code needs a managed runtime.
fn set_code(request: &mut DeployRequest, code: Code, runtime: Option<&str>, handler: Option<&str>) -> Result<(), Invalid> {
    match code {
        Code::Image(image) => {
            if let Some(runtime) = runtime {
                return Err(field_error("Runtime", format!("{runtime:?} cannot be set on an image function (PackageType Image)")));
            }
            request.image = Some(image);
            Ok(())
        }
        Code::Zip(zip) => {
            if request.mode == DeployMode::Create {
                runtime.ok_or_else(|| field_error("Runtime", "is required with Code.ZipFile"))?;
                handler.ok_or_else(|| field_error("Handler", "is required with Code.ZipFile"))?;
            }
            request.zip = Some(zip);
            request.runtime = runtime.map(str::to_string);
            request.handler = handler.map(str::to_string);
            Ok(())
        }
    }
}

impl CreateFunction {
    /// The deploy this create asks for; `publish` is the caller's to act on.
    pub fn into_request(self) -> Result<DeployRequest, Invalid> {
        check_function_name(&self.function_name).map_err(|e| field_error("FunctionName", e))?;
        self.unsupported.check()?;
        let code = decode_code(self.code.as_ref().ok_or_else(|| field_error("Code", "is required"))?)?;
        match (self.package_type.as_deref(), &code) {
            (None, _) | (Some("Zip"), Code::Zip(_)) | (Some("Image"), Code::Image(_)) => {}
            (Some(other), _) => {
                return Err(field_error("PackageType", format!("{other:?} does not match the code given (Zip needs Code.ZipFile, Image needs Code.ImageUri)")))
            }
        }
        let mut request = DeployRequest { name: self.function_name.clone(), mode: DeployMode::Create, role: self.role.clone(), ..Default::default() };
        Settings { description: &self.description, timeout: self.timeout, memory_size: self.memory_size, environment: &self.environment }
            .apply(&mut request)?;
        set_code(&mut request, code, self.runtime.as_deref(), self.handler.as_deref())?;
        Ok(request)
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateFunctionConfiguration {
    pub role: Option<String>,
    pub handler: Option<String>,
    pub runtime: Option<String>,
    pub description: Option<String>,
    pub timeout: Option<u32>,
    pub memory_size: Option<u32>,
    pub environment: Option<EnvironmentBody>,
    pub revision_id: Option<String>,
    #[serde(flatten)]
    pub unsupported: Unsupported,
}

impl UpdateFunctionConfiguration {
    pub fn into_request(self, name: &str) -> Result<DeployRequest, Invalid> {
        self.unsupported.check()?;
        if let Some(runtime) = &self.runtime {
            return Err(field_error("Runtime", format!("{runtime:?} cannot be changed on this function")));
        }
        let mut request = DeployRequest {
            name: name.to_string(),
            mode: DeployMode::Update,
            role: self.role.clone(),
            if_revision: self.revision_id.clone(),
            handler: self.handler.clone(),
            ..Default::default()
        };
        Settings { description: &self.description, timeout: self.timeout, memory_size: self.memory_size, environment: &self.environment }
            .apply(&mut request)?;
        Ok(request)
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateFunctionCode {
    #[serde(flatten)]
    pub code: FunctionCode,
    #[serde(default)]
    pub publish: bool,
    #[serde(default)]
    pub dry_run: bool,
    pub revision_id: Option<String>,
    pub architectures: Option<Vec<String>>,
}

impl UpdateFunctionCode {
    pub fn into_request(self, name: &str) -> Result<DeployRequest, Invalid> {
        Unsupported { architectures: self.architectures.clone(), ..Default::default() }.check()?;
        let mut request = DeployRequest { name: name.to_string(), mode: DeployMode::Update, if_revision: self.revision_id.clone(), ..Default::default() };
        set_code(&mut request, decode_code(&self.code)?, None, None)?;
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(body: Value) -> Result<DeployRequest, Invalid> {
        serde_json::from_value::<CreateFunction>(body).unwrap().into_request()
    }

    #[test]
    fn a_create_maps_onto_a_deploy_and_names_the_bad_field() {
        let ok = create(serde_json::json!({
            "FunctionName": "f", "Role": "arn:aws:iam::1:role/r", "Code": {"ImageUri": "img:1"},
            "MemorySize": 512, "Timeout": 30, "Environment": {"Variables": {"A": "1"}},
            "Tags": {"team": "x"}, "TracingConfig": {"Mode": "PassThrough"}, "Architectures": ["x86_64"]
        }))
        .unwrap();
        assert_eq!((ok.mode, ok.image.as_deref(), ok.memory_mb, ok.timeout_s), (DeployMode::Create, Some("img:1"), Some(512), Some(30)));
        assert_eq!(ok.env.unwrap()["A"], "1");
        let err = |body| create(body).unwrap_err().0;
        assert!(err(serde_json::json!({"FunctionName": "f", "Code": {"ImageUri": "i"}, "MemorySize": 20000})).starts_with("MemorySize:"));
        assert!(err(serde_json::json!({"FunctionName": "f", "Code": {"ImageUri": "i"}, "Timeout": 0})).starts_with("Timeout:"));
        assert!(err(serde_json::json!({"FunctionName": "f b", "Code": {"ImageUri": "i"}})).starts_with("FunctionName:"));
        assert!(err(serde_json::json!({"FunctionName": "f", "Code": {}})).starts_with("Code:"));
        assert!(err(serde_json::json!({"FunctionName": "f", "Code": {"ImageUri": "i"}, "Layers": ["arn:l"]})).starts_with("Layers:"));
        assert!(err(serde_json::json!({"FunctionName": "f", "Code": {"ImageUri": "i"}, "Architectures": ["arm64"]})).starts_with("Architectures:"));
        assert!(err(serde_json::json!({"FunctionName": "f", "Code": {"ImageUri": "i"}, "PackageType": "Zip"})).starts_with("PackageType:"));
        assert!(err(serde_json::json!({"FunctionName": "f", "Code": {"ImageUri": "i"}, "Environment": {"Variables": {"AWS_REGION": "x"}}}))
            .starts_with("Environment.Variables:"));
        // An empty VPC config is what some tools send by default: it sets nothing.
        assert!(create(serde_json::json!({"FunctionName": "f", "Code": {"ImageUri": "i"}, "VpcConfig": {"SubnetIds": [], "SecurityGroupIds": []}})).is_ok());
    }

    #[test]
    fn updates_carry_the_revision_and_only_what_was_given() {
        let body: UpdateFunctionConfiguration = serde_json::from_value(serde_json::json!({"Timeout": 9, "RevisionId": "r1"})).unwrap();
        let request = body.into_request("f").unwrap();
        assert_eq!((request.mode, request.timeout_s, request.memory_mb, request.if_revision.as_deref()), (DeployMode::Update, Some(9), None, Some("r1")));
        assert!(request.env.is_none(), "an absent Environment keeps the variables");
        let code: UpdateFunctionCode = serde_json::from_value(serde_json::json!({"ImageUri": "img:2"})).unwrap();
        assert_eq!(code.into_request("f").unwrap().image.as_deref(), Some("img:2"));
        let bad: UpdateFunctionCode = serde_json::from_value(serde_json::json!({"ZipFile": "!!"})).unwrap();
        assert!(bad.into_request("f").unwrap_err().0.starts_with("Code.ZipFile:"));
    }
}
