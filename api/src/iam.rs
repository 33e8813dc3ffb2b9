//! IAM policy documents, the subset access keys carry: `Version`, and `Statement`s with `Effect`
//! Allow/Deny, `Action` (`lambda:InvokeFunction`, `lambda:*`, `*`) and `Resource` ARNs with `*`
//! and `?` wildcards. Evaluation follows IAM: an explicit Deny wins, then an Allow, and anything
//! not allowed is denied.

use crate::error::Invalid;
use serde::{Deserialize, Serialize};
use serde_json::Value;

const VERSIONS: [&str; 2] = ["2012-10-17", "2008-10-17"];
const STATEMENT_FIELDS: [&str; 4] = ["Sid", "Effect", "Action", "Resource"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Effect {
    Allow,
    Deny,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Statement {
    pub effect: Effect,
    pub action: Vec<String>,
    pub resource: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyDocument {
    pub version: String,
    pub statement: Vec<Statement>,
}

/// What a policy says of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// A statement denies it.
    ExplicitlyDenied,
    /// No statement allows it.
    NotAllowed,
}

impl PolicyDocument {
    /// Reads a policy as IAM writes it: `Statement`, `Action` and `Resource` may each be one
    /// value or a list. Fields outside the subset (`Condition`, `NotAction`, `Principal`, ...) are
    /// refused by name rather than ignored, since ignoring one would grant more than was meant.
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        let doc: Value = serde_json::from_str(text).map_err(|e| Invalid(format!("policy is not JSON: {e}")))?;
        let object = doc.as_object().ok_or_else(|| Invalid("policy must be a JSON object".into()))?;
        if let Some(other) = object.keys().find(|k| !matches!(k.as_str(), "Version" | "Statement" | "Id")) {
            return Err(Invalid(format!("policy field {other} is not supported")));
        }
        let version = object.get("Version").and_then(Value::as_str).unwrap_or_default();
        if !VERSIONS.contains(&version) {
            return Err(Invalid(format!("policy Version must be one of {VERSIONS:?}")));
        }
        let statements = one_or_many(object.get("Statement"), "Statement")?;
        let statement = statements.iter().enumerate().map(|(i, s)| statement(i, s)).collect::<Result<Vec<_>, _>>()?;
        Ok(Self { version: version.to_string(), statement })
    }

    pub fn decide(&self, action: &str, resource: &str) -> Decision {
        let applies = |s: &&Statement| {
            s.action.iter().any(|a| wildcard_match(&a.to_ascii_lowercase(), &action.to_ascii_lowercase()))
                && s.resource.iter().any(|r| wildcard_match(r, resource))
        };
        let matching: Vec<&Statement> = self.statement.iter().filter(applies).collect();
        if matching.iter().any(|s| s.effect == Effect::Deny) {
            Decision::ExplicitlyDenied
        } else if matching.iter().any(|s| s.effect == Effect::Allow) {
            Decision::Allowed
        } else {
            Decision::NotAllowed
        }
    }
}

fn statement(index: usize, value: &Value) -> Result<Statement, Invalid> {
    let at = |field: &str| format!("Statement[{index}].{field}");
    let object = value.as_object().ok_or_else(|| Invalid(format!("Statement[{index}] must be an object")))?;
    if let Some(other) = object.keys().find(|k| !STATEMENT_FIELDS.contains(&k.as_str())) {
        return Err(Invalid(format!("{} is not supported", at(other))));
    }
    let effect = match object.get("Effect").and_then(Value::as_str) {
        Some("Allow") => Effect::Allow,
        Some("Deny") => Effect::Deny,
        _ => return Err(Invalid(format!("{} must be Allow or Deny", at("Effect")))),
    };
    let strings = |field: &str| -> Result<Vec<String>, Invalid> {
        one_or_many(object.get(field), &at(field))?
            .iter()
            .map(|v| {
                v.as_str().filter(|s| !s.is_empty()).map(str::to_string).ok_or_else(|| Invalid(format!("{} holds a value that is not a string", at(field))))
            })
            .collect()
    };
    let action = strings("Action")?;
    if let Some(bad) = action.iter().find(|a| *a != "*" && !a.contains(':')) {
        return Err(Invalid(format!("{}: {bad:?} is not SERVICE:ACTION", at("Action"))));
    }
    Ok(Statement { effect, action, resource: strings("Resource")? })
}

fn one_or_many<'v>(value: Option<&'v Value>, what: &str) -> Result<Vec<&'v Value>, Invalid> {
    match value {
        Some(Value::Array(items)) if !items.is_empty() => Ok(items.iter().collect()),
        Some(Value::Array(_)) | None => Err(Invalid(format!("{what} is required"))),
        Some(one) => Ok(vec![one]),
    }
}

/// IAM's wildcards: `*` any run of characters, `?` any one.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    const FN: &str = "arn:aws:lambda:us-east-1:000000000000:function:";

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("arn:*:function:echo", "arn:aws:lambda:r:1:function:echo"));
        assert!(wildcard_match("echo-?", "echo-1"));
        assert!(!wildcard_match("echo-?", "echo-12"));
        assert!(wildcard_match("a*b*c", "aXbYbZc"));
        assert!(!wildcard_match("a*b*c", "aXbYbZ"));
    }

    #[test]
    fn explicit_deny_wins_and_nothing_is_allowed_by_default() {
        let policy = PolicyDocument::parse(&format!(
            r#"{{"Version":"2012-10-17","Statement":[
                {{"Effect":"Allow","Action":"lambda:*","Resource":"{FN}*"}},
                {{"Effect":"Deny","Action":["lambda:DeleteFunction"],"Resource":["{FN}prod-*"]}}]}}"#
        ))
        .unwrap();
        assert_eq!(policy.decide("lambda:InvokeFunction", &format!("{FN}echo")), Decision::Allowed);
        assert_eq!(policy.decide("lambda:invokefunction", &format!("{FN}echo")), Decision::Allowed, "actions are case-insensitive");
        assert_eq!(policy.decide("lambda:DeleteFunction", &format!("{FN}prod-api")), Decision::ExplicitlyDenied);
        assert_eq!(policy.decide("lambda:DeleteFunction", &format!("{FN}dev-api")), Decision::Allowed);
        assert_eq!(policy.decide("ecs:RunTask", "*"), Decision::NotAllowed);
    }

    #[test]
    fn what_is_outside_the_subset_is_refused_by_name() {
        let refused = |doc: &str| PolicyDocument::parse(doc).unwrap_err().0;
        assert!(
            refused(r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{}}}"#).contains("Statement[0].Condition")
        );
        assert!(refused(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Maybe","Action":"*","Resource":"*"}]}"#).contains("Effect"));
        assert!(refused(r#"{"Version":"2020-01-01","Statement":[]}"#).contains("Version"));
        assert!(refused(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"invoke","Resource":"*"}]}"#).contains("SERVICE:ACTION"));
        assert!(refused(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*"}]}"#).contains("Resource is required"));
        assert!(PolicyDocument::parse(r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#).is_ok());
    }
}
