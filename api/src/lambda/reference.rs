//! What a Lambda path or body names a function by: `name`, `name:qualifier`, a partial ARN
//! (`ACCOUNT:function:name`) or a full one (`arn:aws:lambda:REGION:ACCOUNT:function:name`),
//! any of them with a qualifier (a version number, `$LATEST` or an alias).

use crate::error::Invalid;
use crate::names::check_function_name;
use crate::version::{Qualifier, VersionRef};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionRef {
    pub name: String,
    pub qualifier: Option<Qualifier>,
}

impl FunctionRef {
    /// `raw` as it came (already percent-decoded).
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let reference = match raw.find(":function:") {
            Some(i) => &raw[i + ":function:".len()..],
            None => raw,
        };
        let (name, qualifier) = match reference.split_once(':') {
            Some((n, q)) => (n, Some(q.parse()?)),
            None => (reference, None),
        };
        check_function_name(name)?;
        Ok(Self { name: name.to_string(), qualifier })
    }

    /// The qualifier given in the path, or else the one in `?Qualifier=`; both given and
    /// different is an error, as on Lambda.
    pub fn with_query_qualifier(mut self, query: Option<String>) -> Result<Self, Invalid> {
        let query = query.map(|q| q.parse::<Qualifier>()).transpose()?;
        match (&self.qualifier, query) {
            (Some(path), Some(q)) if *path != q => {
                Err(Invalid(format!("The derived qualifier from the function name does not match the specified qualifier ({path} vs {q})")))
            }
            (None, Some(q)) => {
                self.qualifier = Some(q);
                Ok(self)
            }
            _ => Ok(self),
        }
    }

    /// The version named, if the reference names the function itself or a version (not an
    /// alias): unqualified is `$LATEST`.
    pub fn version(&self) -> Option<VersionRef> {
        match &self.qualifier {
            None => Some(VersionRef::Latest),
            Some(Qualifier::Version(v)) => Some(*v),
            Some(Qualifier::Alias(_)) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_arns_and_qualifiers() {
        let r = |s| FunctionRef::parse(s).unwrap();
        assert_eq!(r("echo"), FunctionRef { name: "echo".into(), qualifier: None });
        assert_eq!(r("arn:aws:lambda:us-east-1:123:function:echo:3").version(), Some(VersionRef::Published(3)));
        assert_eq!(r("123:function:echo:live").qualifier, Some(Qualifier::Alias("live".into())));
        assert_eq!(r("echo:$LATEST").version(), Some(VersionRef::Latest));
        assert_eq!(r("echo").version(), Some(VersionRef::Latest));
        assert_eq!(r("echo:live").version(), None);
        assert!(FunctionRef::parse("bad name").is_err());
        assert!(FunctionRef::parse("echo:a.b").is_err());
        assert_eq!(r("echo").with_query_qualifier(Some("2".into())).unwrap().version(), Some(VersionRef::Published(2)));
        assert!(r("echo:1").with_query_qualifier(Some("2".into())).is_err());
        assert!(r("echo:1").with_query_qualifier(Some("1".into())).is_ok());
    }
}
