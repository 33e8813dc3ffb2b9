//! Create/Get/Update/Delete/ListFunctionUrlConfig(s): whether a function's URL (`/fn/NAME/`)
//! needs a signed request (`AWS_IAM`, as every other route of a server with a token) or is open
//! to anyone (`NONE`). A function without a URL config is reached as before: with the server's
//! authentication.

use super::configuration::lambda_timestamp;
use super::field_error;
use crate::arn::function_arn;
use crate::error::Invalid;
use crate::url_config::{UrlAuth, UrlConfig};
use serde::{Deserialize, Serialize};

/// Create and Update: `AuthType` is required on create; `Cors` and response streaming are not
/// supported and are refused by name rather than ignored.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutFunctionUrlConfig {
    pub auth_type: Option<String>,
    pub cors: Option<serde_json::Value>,
    pub invoke_mode: Option<String>,
}

impl PutFunctionUrlConfig {
    /// The auth type asked for: required on create, optional (keep) on update.
    pub fn auth(&self, required: bool) -> Result<Option<UrlAuth>, Invalid> {
        if self.cors.is_some() {
            return Err(field_error("Cors", "not supported: Skiff's function URLs answer without CORS headers"));
        }
        match self.invoke_mode.as_deref() {
            None | Some("BUFFERED") => {}
            Some(other) => return Err(field_error("InvokeMode", format!("{other:?} is not supported: only BUFFERED"))),
        }
        match self.auth_type.as_deref() {
            None if required => Err(field_error("AuthType", "is required: NONE or AWS_IAM")),
            None => Ok(None),
            Some("NONE") => Ok(Some(UrlAuth::None)),
            Some("AWS_IAM") => Ok(Some(UrlAuth::AwsIam)),
            Some(other) => Err(field_error("AuthType", format!("{other:?} is not one of NONE, AWS_IAM"))),
        }
    }
}

/// A URL config as Lambda shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct FunctionUrlConfig {
    pub function_url: String,
    pub function_arn: String,
    pub auth_type: &'static str,
    pub creation_time: String,
    pub last_modified_time: String,
    pub invoke_mode: &'static str,
}

impl FunctionUrlConfig {
    /// `base` is the URL the server is reached at (`http://127.0.0.1:9000`).
    pub fn of(function: &str, url: &UrlConfig, base: &str, region: &str) -> Self {
        Self {
            function_url: format!("{}/fn/{function}/", base.trim_end_matches('/')),
            function_arn: function_arn(region, function),
            auth_type: match url.auth {
                UrlAuth::None => "NONE",
                UrlAuth::AwsIam => "AWS_IAM",
            },
            creation_time: lambda_timestamp(url.created_at_ms),
            last_modified_time: lambda_timestamp(url.updated_at_ms),
            invoke_mode: "BUFFERED",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn put(body: serde_json::Value) -> PutFunctionUrlConfig {
        serde_json::from_value(body).unwrap()
    }

    #[test]
    fn auth_types_are_lambdas_and_what_is_not_supported_is_named() {
        assert_eq!(put(json!({"AuthType": "NONE"})).auth(true).unwrap(), Some(UrlAuth::None));
        assert_eq!(put(json!({"AuthType": "AWS_IAM", "InvokeMode": "BUFFERED"})).auth(true).unwrap(), Some(UrlAuth::AwsIam));
        assert_eq!(put(json!({})).auth(false).unwrap(), None, "an update may keep the auth type");
        assert!(put(json!({})).auth(true).unwrap_err().to_string().starts_with("AuthType"));
        assert!(put(json!({"AuthType": "none"})).auth(true).unwrap_err().to_string().starts_with("AuthType"));
        assert!(put(json!({"AuthType": "NONE", "Cors": {}})).auth(true).unwrap_err().to_string().starts_with("Cors"));
        let e = put(json!({"AuthType": "NONE", "InvokeMode": "RESPONSE_STREAM"})).auth(true).unwrap_err();
        assert!(e.to_string().starts_with("InvokeMode"), "{e}");
    }

    #[test]
    fn a_config_shows_its_url_and_times_as_lambda_does() {
        let url = UrlConfig { auth: UrlAuth::None, created_at_ms: 1_764_703_235_054, updated_at_ms: 1_764_703_235_054 };
        let shown = serde_json::to_value(FunctionUrlConfig::of("echo", &url, "http://127.0.0.1:9000/", "us-east-1")).unwrap();
        assert_eq!(shown["FunctionUrl"], "http://127.0.0.1:9000/fn/echo/");
        assert_eq!(shown["AuthType"], "NONE");
        assert_eq!(shown["FunctionArn"], "arn:aws:lambda:us-east-1:000000000000:function:echo");
        assert_eq!(shown["CreationTime"], "2025-12-02T19:20:35.054+0000");
    }
}
