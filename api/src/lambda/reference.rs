//! What a Lambda path or body names a function by: `name`, `name:qualifier`, a partial ARN
//! (`ACCOUNT:function:name`) or a full one (`arn:aws:lambda:REGION:ACCOUNT:function:name`),
//! any of them with a qualifier (a version number, `$LATEST` or an alias).

use crate::names::check_function_name;
use crate::Invalid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionRef {
    pub name: String,
    pub qualifier: Option<String>,
}

impl FunctionRef {
    /// `raw` as it came (already percent-decoded).
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let reference = match raw.find(":function:") {
            Some(i) => &raw[i + ":function:".len()..],
            None => raw,
        };
        let (name, qualifier) = match reference.split_once(':') {
            Some((n, q)) => (n, Some(q.to_string())),
            None => (reference, None),
        };
        check_function_name(name)?;
        if let Some(q) = &qualifier {
            check_qualifier(q)?;
        }
        Ok(Self { name: name.to_string(), qualifier })
    }

    /// The qualifier given in the path, or else the one in `?Qualifier=`; both given and
    /// different is an error, as on Lambda.
    pub fn with_query_qualifier(mut self, query: Option<String>) -> Result<Self, Invalid> {
        match (&self.qualifier, query) {
            (Some(path), Some(q)) if *path != q => Err(Invalid(format!(
                "The derived qualifier from the function name does not match the specified qualifier ({path} vs {q})"
            ))),
            (None, Some(q)) => {
                check_qualifier(&q)?;
                self.qualifier = Some(q);
                Ok(self)
            }
            _ => Ok(self),
        }
    }
}

/// Lambda's qualifier pattern: `$LATEST`, a version number, or an alias name.
pub fn check_qualifier(q: &str) -> Result<(), Invalid> {
    let alias_like = !q.is_empty() && q.len() <= 128 && q.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if q == "$LATEST" || alias_like {
        Ok(())
    } else {
        Err(Invalid(format!("invalid qualifier {q:?}: expected $LATEST, a version number or an alias name")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_arns_and_qualifiers() {
        let r = |s| FunctionRef::parse(s).unwrap();
        assert_eq!(r("echo"), FunctionRef { name: "echo".into(), qualifier: None });
        assert_eq!(r("arn:aws:lambda:us-east-1:123:function:echo:3").qualifier.as_deref(), Some("3"));
        assert_eq!(r("123:function:echo:live").qualifier.as_deref(), Some("live"));
        assert_eq!(r("echo:$LATEST").qualifier.as_deref(), Some("$LATEST"));
        assert!(FunctionRef::parse("bad name").is_err());
        assert!(FunctionRef::parse("echo:a.b").is_err());
        assert!(r("echo").with_query_qualifier(Some("2".into())).unwrap().qualifier == Some("2".into()));
        assert!(r("echo:1").with_query_qualifier(Some("2".into())).is_err());
    }
}
