//! The cluster secret: what a node sends on every internal request and checks on every one it
//! receives. Ordinary credentials (the API token, a function's environment) never carry it.

/// The header internal requests carry the secret in.
pub const SECRET_HEADER: &str = "x-skiff-cluster-secret";
/// Set on a call one node hands to another: the receiver runs it and never forwards it again.
pub const FORWARDED_HEADER: &str = "x-skiff-forwarded-by";

#[derive(Clone)]
pub struct ClusterSecret(String);

impl ClusterSecret {
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `given` is the secret, in time that does not depend on where they differ.
    pub fn matches(&self, given: &[u8]) -> bool {
        let expected = self.0.as_bytes();
        if given.len() != expected.len() {
            return false;
        }
        given.iter().zip(expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

impl std::fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterSecret(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_secret_matches() {
        let s = ClusterSecret::new("s3cret");
        assert!(s.matches(b"s3cret"));
        assert!(!s.matches(b"s3cre"));
        assert!(!s.matches(b"s3creT"));
        assert!(!s.matches(b""));
        assert_eq!(format!("{s:?}"), "ClusterSecret(..)");
    }
}
