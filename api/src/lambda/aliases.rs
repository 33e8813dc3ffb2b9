//! PublishVersion's body, CreateAlias's and UpdateAlias's bodies, and `AliasConfiguration`,
//! the shape every alias operation answers with.

use super::field_error;
use crate::arn::function_arn;
use crate::error::Invalid;
use crate::function::DeployMode;
use crate::version::{check_alias_name, Alias, AliasRequest, VersionRef};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct PublishVersion {
    pub code_sha256: Option<String>,
    pub description: Option<String>,
    pub revision_id: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct RoutingConfig {
    /// Version number (as a string, as Lambda sends it) to its share of the calls.
    #[serde(default)]
    pub additional_version_weights: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CreateAlias {
    pub name: String,
    pub function_version: String,
    pub description: Option<String>,
    pub routing_config: Option<RoutingConfig>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct UpdateAlias {
    pub function_version: Option<String>,
    pub description: Option<String>,
    pub routing_config: Option<RoutingConfig>,
    pub revision_id: Option<String>,
}

impl CreateAlias {
    pub fn into_request(self, function: &str) -> Result<AliasRequest, Invalid> {
        check_alias_name(&self.name).map_err(|e| field_error("Name", e))?;
        Ok(AliasRequest {
            function: function.to_string(),
            name: self.name,
            mode: DeployMode::Create,
            version: Some(parse_version(&self.function_version)?),
            weights: self.routing_config.map(weights).transpose()?,
            description: self.description,
            if_revision: None,
        })
    }
}

impl UpdateAlias {
    pub fn into_request(self, function: &str, name: &str) -> Result<AliasRequest, Invalid> {
        Ok(AliasRequest {
            function: function.to_string(),
            name: name.to_string(),
            mode: DeployMode::Update,
            version: self.function_version.as_deref().map(parse_version).transpose()?,
            weights: self.routing_config.map(weights).transpose()?,
            description: self.description,
            if_revision: self.revision_id,
        })
    }
}

fn parse_version(raw: &str) -> Result<VersionRef, Invalid> {
    raw.parse().map_err(|e| field_error("FunctionVersion", e))
}

/// The routing weights by version number; the values are range-checked with the alias.
fn weights(routing: RoutingConfig) -> Result<BTreeMap<u32, f64>, Invalid> {
    routing
        .additional_version_weights
        .into_iter()
        .map(|(version, weight)| match version.parse::<VersionRef>() {
            Ok(VersionRef::Published(n)) => Ok((n, weight)),
            _ => Err(field_error("RoutingConfig.AdditionalVersionWeights", format!("{version:?} is not a published version number"))),
        })
        .collect()
}

/// Lambda's `AliasConfiguration`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct AliasConfiguration {
    pub alias_arn: String,
    pub name: String,
    pub function_version: String,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routing_config: Option<RoutingConfig>,
    pub revision_id: String,
}

impl AliasConfiguration {
    pub fn of(alias: &Alias, region: &str) -> Self {
        let routing_config =
            (!alias.weights.is_empty()).then(|| RoutingConfig { additional_version_weights: alias.weights.iter().map(|(v, w)| (v.to_string(), *w)).collect() });
        Self {
            alias_arn: format!("{}:{}", function_arn(region, &alias.function), alias.name),
            name: alias.name.clone(),
            function_version: alias.version.to_string(),
            description: alias.description.clone(),
            routing_config,
            revision_id: alias.revision_id.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_bodies_become_requests_and_errors_name_the_field() {
        let body: CreateAlias =
            serde_json::from_str(r#"{"Name":"live","FunctionVersion":"1","RoutingConfig":{"AdditionalVersionWeights":{"2":0.1}}}"#).unwrap();
        let request = body.into_request("f").unwrap();
        assert_eq!((request.version, request.weights.clone().unwrap()[&2]), (Some(VersionRef::Published(1)), 0.1));
        let bad_version: CreateAlias = serde_json::from_str(r#"{"Name":"live","FunctionVersion":"latest"}"#).unwrap();
        assert!(bad_version.into_request("f").unwrap_err().0.starts_with("FunctionVersion"));
        let numeric_name: CreateAlias = serde_json::from_str(r#"{"Name":"12","FunctionVersion":"1"}"#).unwrap();
        assert!(numeric_name.into_request("f").unwrap_err().0.starts_with("Name"));
        let latest_weight: UpdateAlias = serde_json::from_str(r#"{"RoutingConfig":{"AdditionalVersionWeights":{"$LATEST":0.5}}}"#).unwrap();
        assert!(latest_weight.into_request("f", "live").unwrap_err().0.starts_with("RoutingConfig"));
        assert!(serde_json::from_str::<UpdateAlias>(r#"{"Colour":1}"#).is_err());
    }

    #[test]
    fn alias_configuration_has_lambdas_shape() {
        let alias = Alias {
            function: "f".into(),
            name: "live".into(),
            version: VersionRef::Published(1),
            weights: [(2, 0.25)].into(),
            description: "d".into(),
            revision_id: "r".into(),
        };
        let shown = serde_json::to_value(AliasConfiguration::of(&alias, "us-east-1")).unwrap();
        assert_eq!(shown["AliasArn"], "arn:aws:lambda:us-east-1:000000000000:function:f:live");
        assert_eq!(shown["FunctionVersion"], "1");
        assert_eq!(shown["RoutingConfig"]["AdditionalVersionWeights"]["2"], 0.25);
        let plain = Alias { weights: BTreeMap::new(), ..alias };
        assert!(serde_json::to_value(AliasConfiguration::of(&plain, "us-east-1")).unwrap().get("RoutingConfig").is_none());
    }
}
