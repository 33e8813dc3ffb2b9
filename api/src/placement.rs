//! Where a service's copies (and one-off tasks) may run and which node is preferred: Amazon ECS's
//! placement strategies and constraints, over the attributes a node was started with
//! (`skiff server --attribute zone=a`).
//!
//! Both are written as short strings in manifests and requests (`"spread:zone"`,
//! `"member-of attribute:zone in [a, b]"`) and parsed here into types, so a bad one is refused
//! when it is deployed, never when a copy is being placed.

use crate::error::Invalid;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// How the scheduler orders the nodes a copy may go to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Strategy {
    /// Evenly over nodes (`spread`), or over the values of a node attribute first
    /// (`spread:zone`), then over the nodes within a value.
    Spread { attribute: Option<String> },
    /// Onto the node with the least free memory that still fits, so whole nodes stay free.
    Binpack,
    /// Any node that fits.
    Random,
}

impl Default for Strategy {
    fn default() -> Self {
        Strategy::Spread { attribute: None }
    }
}

impl TryFrom<String> for Strategy {
    type Error = Invalid;

    fn try_from(s: String) -> Result<Self, Invalid> {
        match s.trim().split_once(':') {
            None if s.trim() == "spread" => Ok(Strategy::default()),
            None if s.trim() == "binpack" => Ok(Strategy::Binpack),
            None if s.trim() == "random" => Ok(Strategy::Random),
            Some(("spread", attribute)) if is_attribute_name(attribute.trim()) => Ok(Strategy::Spread { attribute: Some(attribute.trim().to_string()) }),
            _ => Err(Invalid(format!("placement strategy {s:?}: expected spread, spread:ATTRIBUTE, binpack or random"))),
        }
    }
}

impl From<Strategy> for String {
    fn from(s: Strategy) -> String {
        s.to_string()
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Strategy::Spread { attribute: Some(a) } => write!(f, "spread:{a}"),
            Strategy::Spread { attribute: None } => f.write_str("spread"),
            Strategy::Binpack => f.write_str("binpack"),
            Strategy::Random => f.write_str("random"),
        }
    }
}

/// A rule every node given a copy must satisfy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Constraint {
    /// At most one copy of the service per node.
    DistinctNode,
    /// Only nodes whose attributes satisfy the expression.
    MemberOf(Expression),
}

/// `attribute:NAME == V`, `!= V`, `in [A, B]` or `not_in [A, B]` (ECS's cluster query language,
/// the part that applies to attributes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expression {
    pub attribute: String,
    pub negated: bool,
    pub values: Vec<String>,
}

impl Expression {
    /// Whether a node with `attributes` satisfies it. A node without the attribute satisfies
    /// only a negated expression.
    pub fn matches(&self, attributes: &BTreeMap<String, String>) -> bool {
        let member = attributes.get(&self.attribute).is_some_and(|v| self.values.contains(v));
        member != self.negated
    }

    fn parse(text: &str) -> Result<Self, Invalid> {
        let bad = || Invalid(format!("member-of {text:?}: expected attribute:NAME == VALUE, != VALUE, in [A, B] or not_in [A, B]"));
        let rest = text.trim().strip_prefix("attribute:").ok_or_else(bad)?;
        let (attribute, rest) = rest.split_once(char::is_whitespace).ok_or_else(bad)?;
        if !is_attribute_name(attribute) {
            return Err(bad());
        }
        let rest = rest.trim();
        let (negated, values) = if let Some(v) = rest.strip_prefix("==") {
            (false, vec![value(v).ok_or_else(bad)?])
        } else if let Some(v) = rest.strip_prefix("!=") {
            (true, vec![value(v).ok_or_else(bad)?])
        } else if let Some(list) = rest.strip_prefix("not_in") {
            (true, list_of(list).ok_or_else(bad)?)
        } else if let Some(list) = rest.strip_prefix("in") {
            (false, list_of(list).ok_or_else(bad)?)
        } else {
            return Err(bad());
        };
        Ok(Self { attribute: attribute.to_string(), negated, values })
    }
}

fn value(text: &str) -> Option<String> {
    let v = text.trim();
    is_attribute_value(v).then(|| v.to_string())
}

fn list_of(text: &str) -> Option<Vec<String>> {
    let inner = text.trim().strip_prefix('[')?.strip_suffix(']')?;
    let values: Option<Vec<String>> = inner.split(',').map(value).collect();
    values.filter(|v| !v.is_empty())
}

impl fmt::Display for Expression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.negated, self.values.as_slice()) {
            (false, [one]) => write!(f, "attribute:{} == {one}", self.attribute),
            (true, [one]) => write!(f, "attribute:{} != {one}", self.attribute),
            (false, many) => write!(f, "attribute:{} in [{}]", self.attribute, many.join(", ")),
            (true, many) => write!(f, "attribute:{} not_in [{}]", self.attribute, many.join(", ")),
        }
    }
}

impl TryFrom<String> for Constraint {
    type Error = Invalid;

    fn try_from(s: String) -> Result<Self, Invalid> {
        let text = s.trim();
        if text == "distinct-node" {
            return Ok(Constraint::DistinctNode);
        }
        match text.strip_prefix("member-of") {
            Some(expr) if expr.starts_with(char::is_whitespace) => Ok(Constraint::MemberOf(Expression::parse(expr)?)),
            _ => Err(Invalid(format!("placement constraint {s:?}: expected distinct-node or member-of EXPRESSION"))),
        }
    }
}

impl From<Constraint> for String {
    fn from(c: Constraint) -> String {
        c.to_string()
    }
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Constraint::DistinctNode => f.write_str("distinct-node"),
            Constraint::MemberOf(e) => write!(f, "member-of {e}"),
        }
    }
}

/// A service's (or task's) placement: a strategy and the constraints it works within.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Placement {
    #[serde(default)]
    pub strategy: Strategy,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<Constraint>,
}

/// Attribute names: what `--attribute NAME=VALUE` accepts.
pub fn is_attribute_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

pub fn is_attribute_value(s: &str) -> bool {
    !s.is_empty() && s.len() <= 256 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-/:".contains(&b))
}

/// Parses `NAME=VALUE` as given to `--attribute`.
pub fn parse_attribute(s: &str) -> Result<(String, String), Invalid> {
    match s.split_once('=') {
        Some((k, v)) if is_attribute_name(k) && is_attribute_value(v) => Ok((k.to_string(), v.to_string())),
        _ => Err(Invalid(format!("attribute {s:?}: expected NAME=VALUE (letters, digits, . _ - in the name)"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn constraint(s: &str) -> Result<Constraint, Invalid> {
        Constraint::try_from(s.to_string())
    }

    #[test]
    fn strategies_parse_and_print_back() {
        for (text, strategy) in [
            ("spread", Strategy::default()),
            ("spread:zone", Strategy::Spread { attribute: Some("zone".into()) }),
            ("binpack", Strategy::Binpack),
            ("random", Strategy::Random),
        ] {
            assert_eq!(Strategy::try_from(text.to_string()).unwrap(), strategy);
            assert_eq!(strategy.to_string(), text);
        }
        for bad in ["", "pack", "spread:", "spread:a b", "binpack:memory"] {
            assert!(Strategy::try_from(bad.to_string()).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn member_of_expressions_match_node_attributes() {
        let zone = |z: &str| BTreeMap::from([("zone".to_string(), z.to_string())]);
        let Constraint::MemberOf(eq) = constraint("member-of attribute:zone == a").unwrap() else { panic!() };
        assert!(eq.matches(&zone("a")) && !eq.matches(&zone("b")) && !eq.matches(&BTreeMap::new()));
        let Constraint::MemberOf(ne) = constraint("member-of attribute:zone != a").unwrap() else { panic!() };
        assert!(!ne.matches(&zone("a")) && ne.matches(&zone("b")) && ne.matches(&BTreeMap::new()));
        let Constraint::MemberOf(within) = constraint("member-of attribute:zone in [a, c]").unwrap() else { panic!() };
        assert!(within.matches(&zone("c")) && !within.matches(&zone("b")));
        let Constraint::MemberOf(outside) = constraint("member-of attribute:zone not_in [a,c]").unwrap() else { panic!() };
        assert!(outside.matches(&zone("b")) && !outside.matches(&zone("a")));
        assert_eq!(outside.to_string(), "attribute:zone not_in [a, c]");
        assert_eq!(constraint("distinct-node").unwrap(), Constraint::DistinctNode);
        for bad in ["member-of zone == a", "member-of attribute:zone = a", "member-of attribute:zone in []", "distinct", "member-of"] {
            assert!(constraint(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn placement_reads_from_json_with_defaults() {
        let p: Placement = serde_json::from_str(r#"{"constraints": ["distinct-node"]}"#).unwrap();
        assert_eq!(p.strategy, Strategy::Spread { attribute: None });
        assert_eq!(p.constraints, vec![Constraint::DistinctNode]);
        assert!(serde_json::from_str::<Placement>(r#"{"strategy": "pack"}"#).is_err());
        assert_eq!(parse_attribute("zone=a").unwrap(), ("zone".into(), "a".into()));
        assert!(parse_attribute("zone").is_err() && parse_attribute("=a").is_err());
    }
}
