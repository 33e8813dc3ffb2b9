//! Names and ids as the CLI puts them into URL paths. A name is one path segment, so anything
//! that could be read as more than one (`../services/x`, `x?y`, `a%2Fb`) is refused before a
//! request is made: `skiff rm ../services/web` must not delete a service.

use std::fmt;
use std::ops::Deref;
use std::str::FromStr;

/// A function, service, alias, trigger, task or key name or id: ASCII letters, digits and
/// `-_.:$@`, at most 256 characters, not `.` or `..` (ARNs and `name:qualifier` fit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);

impl FromStr for Name {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || "-_.:$@".contains(c);
        if s.is_empty() || s.len() > 256 || s == "." || s == ".." || !s.chars().all(allowed) {
            return Err(format!("{s:?} is not a name: use letters, digits and -_.:$@ (at most 256)"));
        }
        Ok(Self(s.to_string()))
    }
}

impl Deref for Name {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_would_leave_their_segment_are_refused() {
        for good in ["echo", "my_fn-2", "echo:live", "echo:$LATEST", "arn:aws:lambda:us-east-1:000000000000:function:echo", "0193a1b2-c3d4"] {
            assert!(good.parse::<Name>().is_ok(), "{good}");
        }
        for bad in ["", ".", "..", "../services/x", "x/y", "x?y", "x#y", "a%2Fb", "a b", &"n".repeat(257)] {
            assert!(bad.parse::<Name>().is_err(), "{bad:?}");
        }
    }
}
