//! Published versions and aliases, as on Lambda. A function's current config is its `$LATEST`;
//! publishing freezes a copy of it under the next number (numbers are never reused, even after
//! a version is deleted); an alias names one version and may send a share of its calls to one
//! other version (weighted routing, for canaries).

use crate::error::Invalid;
use crate::names::check_function_name;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// What Lambda calls the function's current, unpublished config.
pub const LATEST: &str = "$LATEST";
/// Lambda's limit on an alias name.
const MAX_ALIAS_NAME: usize = 128;
/// Lambda routes an alias to at most one version besides its own.
const MAX_ADDITIONAL_VERSIONS: usize = 1;

/// One version of a function: its current config, or a published number.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum VersionRef {
    #[default]
    Latest,
    Published(u32),
}

impl VersionRef {
    pub fn is_latest(&self) -> bool {
        *self == VersionRef::Latest
    }
}

impl fmt::Display for VersionRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VersionRef::Latest => f.write_str(LATEST),
            VersionRef::Published(n) => write!(f, "{n}"),
        }
    }
}

impl From<VersionRef> for String {
    fn from(v: VersionRef) -> String {
        v.to_string()
    }
}

impl TryFrom<String> for VersionRef {
    type Error = Invalid;
    fn try_from(s: String) -> Result<Self, Invalid> {
        s.parse()
    }
}

impl std::str::FromStr for VersionRef {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        if s == LATEST {
            return Ok(VersionRef::Latest);
        }
        match s.parse::<u32>() {
            Ok(n) if n > 0 && s.bytes().all(|b| b.is_ascii_digit()) => Ok(VersionRef::Published(n)),
            _ => Err(Invalid(format!("invalid version {s:?}: expected $LATEST or a published version number"))),
        }
    }
}

/// What a qualified call or path names: a version, or an alias that resolves to one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Qualifier {
    Version(VersionRef),
    Alias(String),
}

impl fmt::Display for Qualifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Qualifier::Version(v) => v.fmt(f),
            Qualifier::Alias(a) => f.write_str(a),
        }
    }
}

impl std::str::FromStr for Qualifier {
    type Err = Invalid;
    /// Lambda's rule: all digits is a version, `$LATEST` is the current config, anything
    /// else matching the alias pattern is an alias.
    fn from_str(s: &str) -> Result<Self, Invalid> {
        if s == LATEST || (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())) {
            return s.parse().map(Qualifier::Version);
        }
        check_alias_name(s)?;
        Ok(Qualifier::Alias(s.to_string()))
    }
}

/// Lambda's alias pattern: 1 to 128 of `[A-Za-z0-9_-]`, not all digits (that is a version).
pub fn check_alias_name(name: &str) -> Result<(), Invalid> {
    let pattern = (1..=MAX_ALIAS_NAME).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !pattern || name.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Invalid(format!("invalid alias name {name:?}: must match (?!^[0-9]+$)[A-Za-z0-9_-]{{1,{MAX_ALIAS_NAME}}}")));
    }
    Ok(())
}

/// The config store key of a published version, beside its function's own key (a function
/// name cannot hold a `:`, so the two never collide).
pub fn version_key(function: &str, number: u32) -> String {
    format!("{function}:{number}")
}

/// The config store key of an alias.
pub fn alias_key(function: &str, alias: &str) -> String {
    format!("{function}:{alias}")
}

/// An alias as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Alias {
    pub function: String,
    pub name: String,
    /// The version that takes every call not routed elsewhere.
    pub version: VersionRef,
    /// Published versions that take this share (0..1) of the calls instead.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub weights: BTreeMap<u32, f64>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Changes with every update (Lambda's alias `RevisionId`).
    pub revision_id: String,
}

impl Alias {
    /// The version a call takes, for `roll` drawn uniformly from [0, 1): the additional
    /// versions take their weights' share from the bottom of the range, the alias's own
    /// version the rest. `roll` is drawn only when there is a second version to pick.
    pub fn route(&self, roll: impl FnOnce() -> f64) -> VersionRef {
        if self.weights.is_empty() {
            return self.version;
        }
        let roll = roll();
        let mut upto = 0.0;
        for (version, weight) in &self.weights {
            upto += weight;
            if roll < upto {
                return VersionRef::Published(*version);
            }
        }
        self.version
    }

    /// The rules Lambda applies to an alias: a weighted alias points at a published version,
    /// each weight lies in 0..1 and they leave the alias's own version a share, at most one
    /// other version, which is not the alias's own.
    pub fn validate(&self) -> Result<(), Invalid> {
        check_function_name(&self.function)?;
        check_alias_name(&self.name)?;
        if self.weights.is_empty() {
            return Ok(());
        }
        if self.version == VersionRef::Latest {
            return Err(Invalid("RoutingConfig: an alias pointing at $LATEST cannot route to other versions; publish a version first".into()));
        }
        if self.weights.len() > MAX_ADDITIONAL_VERSIONS {
            return Err(Invalid(format!("RoutingConfig.AdditionalVersionWeights: at most {MAX_ADDITIONAL_VERSIONS} other version")));
        }
        for (version, weight) in &self.weights {
            if !(0.0..=1.0).contains(weight) || !weight.is_finite() {
                return Err(Invalid(format!("RoutingConfig.AdditionalVersionWeights: weight {weight} of version {version} is outside 0..1")));
            }
            if VersionRef::Published(*version) == self.version {
                return Err(Invalid(format!("RoutingConfig.AdditionalVersionWeights: version {version} is the alias's own version")));
            }
        }
        let total: f64 = self.weights.values().sum();
        if total > 1.0 {
            return Err(Invalid(format!("RoutingConfig.AdditionalVersionWeights: the weights add up to {total}, more than 1")));
        }
        Ok(())
    }

    /// Every version this alias can send a call to.
    pub fn versions(&self) -> impl Iterator<Item = VersionRef> + '_ {
        std::iter::once(self.version).chain(self.weights.keys().map(|v| VersionRef::Published(*v)))
    }
}

/// A create or an update of an alias; fields left `None` keep their value on update.
#[derive(Debug, Clone, Default)]
pub struct AliasRequest {
    pub function: String,
    pub name: String,
    /// `Create` refuses an existing alias, `Update` a missing one.
    pub mode: crate::change::DeployMode,
    pub version: Option<VersionRef>,
    /// `Some(empty)` removes the routing.
    pub weights: Option<BTreeMap<u32, f64>>,
    pub description: Option<String>,
    /// Applies only while the alias's `revision_id` is this one.
    pub if_revision: Option<String>,
}

impl AliasRequest {
    /// The alias this request makes of `old` (none on create), checked against Lambda's rules.
    pub fn apply(&self, old: Option<&Alias>, revision_id: String) -> Result<Alias, Invalid> {
        let version = self.version.or(old.map(|o| o.version)).ok_or_else(|| Invalid("FunctionVersion is required to create an alias".into()))?;
        let description = self.description.clone().or(old.map(|o| o.description.clone())).unwrap_or_default();
        if description.chars().count() > crate::change::MAX_DESCRIPTION {
            return Err(Invalid(format!("Description: at most {} characters", crate::change::MAX_DESCRIPTION)));
        }
        let alias = Alias {
            function: self.function.clone(),
            name: self.name.clone(),
            version,
            weights: self.weights.clone().or(old.map(|o| o.weights.clone())).unwrap_or_default(),
            description,
            revision_id,
        };
        alias.validate()?;
        Ok(alias)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alias(version: VersionRef, weights: &[(u32, f64)]) -> Alias {
        Alias {
            function: "f".into(),
            name: "live".into(),
            version,
            weights: weights.iter().copied().collect(),
            description: String::new(),
            revision_id: "r".into(),
        }
    }

    #[test]
    fn qualifiers_are_versions_or_aliases() {
        assert_eq!("$LATEST".parse::<Qualifier>().unwrap(), Qualifier::Version(VersionRef::Latest));
        assert_eq!("12".parse::<Qualifier>().unwrap(), Qualifier::Version(VersionRef::Published(12)));
        assert_eq!("live".parse::<Qualifier>().unwrap(), Qualifier::Alias("live".into()));
        assert_eq!("v2".parse::<Qualifier>().unwrap(), Qualifier::Alias("v2".into()));
        assert!("0".parse::<Qualifier>().is_err(), "versions start at 1");
        assert!("99999999999".parse::<Qualifier>().is_err());
        assert!("a.b".parse::<Qualifier>().is_err());
        assert!("".parse::<Qualifier>().is_err());
        assert!("x".repeat(129).parse::<Qualifier>().is_err());
        assert_eq!(serde_json::to_string(&VersionRef::Published(3)).unwrap(), "\"3\"");
        assert_eq!(serde_json::from_str::<VersionRef>("\"$LATEST\"").unwrap(), VersionRef::Latest);
    }

    #[test]
    fn routing_splits_the_range_by_weight() {
        let canary = alias(VersionRef::Published(1), &[(2, 0.25)]);
        assert_eq!(canary.route(|| 0.0), VersionRef::Published(2));
        assert_eq!(canary.route(|| 0.2499), VersionRef::Published(2));
        assert_eq!(canary.route(|| 0.25), VersionRef::Published(1));
        assert_eq!(canary.route(|| 0.9999), VersionRef::Published(1));
        assert_eq!(alias(VersionRef::Latest, &[]).route(|| 0.1), VersionRef::Latest);
        let all_out = alias(VersionRef::Published(1), &[(2, 1.0)]);
        assert_eq!(all_out.route(|| 0.9999), VersionRef::Published(2));
    }

    #[test]
    fn an_update_keeps_what_it_does_not_name() {
        let create = AliasRequest {
            function: "f".into(),
            name: "live".into(),
            version: Some(VersionRef::Published(1)),
            weights: Some([(2, 0.5)].into()),
            ..Default::default()
        };
        let v1 = create.apply(None, "a".into()).unwrap();
        let describe = AliasRequest { function: "f".into(), name: "live".into(), description: Some("prod".into()), ..Default::default() };
        let v2 = describe.apply(Some(&v1), "b".into()).unwrap();
        assert_eq!((v2.version, v2.weights.get(&2), v2.description.as_str(), v2.revision_id.as_str()), (VersionRef::Published(1), Some(&0.5), "prod", "b"));
        let unroute = AliasRequest { weights: Some(BTreeMap::new()), ..describe.clone() };
        assert!(unroute.apply(Some(&v2), "c".into()).unwrap().weights.is_empty());
        assert!(AliasRequest { version: None, ..create.clone() }.apply(None, "a".into()).is_err(), "a create names its version");
        let bad = AliasRequest { weights: Some([(2, 2.0)].into()), ..describe };
        assert!(bad.apply(Some(&v1), "c".into()).is_err());
    }

    #[test]
    fn weights_follow_lambdas_rules() {
        assert!(alias(VersionRef::Published(1), &[(2, 0.5)]).validate().is_ok());
        assert!(alias(VersionRef::Published(1), &[(2, 0.0)]).validate().is_ok());
        assert!(alias(VersionRef::Published(1), &[(2, 1.5)]).validate().is_err());
        assert!(alias(VersionRef::Published(1), &[(2, -0.1)]).validate().is_err());
        assert!(alias(VersionRef::Published(1), &[(2, f64::NAN)]).validate().is_err());
        assert!(alias(VersionRef::Published(1), &[(1, 0.1)]).validate().is_err());
        assert!(alias(VersionRef::Published(1), &[(2, 0.1), (3, 0.1)]).validate().is_err());
        assert!(alias(VersionRef::Latest, &[(2, 0.1)]).validate().is_err());
        assert!(alias(VersionRef::Latest, &[]).validate().is_ok());
    }
}
