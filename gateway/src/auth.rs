//! Optional shared-token authentication.
//!
//! With a token configured, every route but `/healthz` needs it, either as
//! `Authorization: Bearer <token>` (the CLI, curl) or as the access key id of an AWS SigV4
//! `Authorization` header, so an unmodified AWS SDK authenticates by using the token as its
//! access key id. The SigV4 signature itself is not verified: the token is the credential.

use hyper::header::AUTHORIZATION;
use hyper::HeaderMap;

pub(crate) fn authorized(expected: Option<&str>, headers: &HeaderMap) -> bool {
    let Some(expected) = expected else { return true };
    let Some(value) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let presented = if let Some(token) = value.strip_prefix("Bearer ") {
        Some(token.trim())
    } else if value.starts_with("AWS4-HMAC-SHA256") {
        value
            .split("Credential=")
            .nth(1)
            .and_then(|cred| cred.split('/').next())
    } else {
        None
    };
    presented.is_some_and(|p| constant_time_eq(p.as_bytes(), expected.as_bytes()))
}

/// With a server token, `Authorization` carried the Skiff credential (bearer, or SigV4 access key)
/// that got the request past the gateway. It is not for a function's or service's code to see:
/// with it, that code could call the control plane.
pub(crate) fn strip_credential(token: Option<&str>, headers: &mut HeaderMap) {
    if token.is_some() {
        headers.remove(AUTHORIZATION);
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, auth.parse().unwrap());
        h
    }

    #[test]
    fn bearer_and_sigv4_access_key_are_accepted() {
        assert!(authorized(None, &HeaderMap::new()));
        assert!(!authorized(Some("s3cret"), &HeaderMap::new()));
        assert!(authorized(Some("s3cret"), &headers("Bearer s3cret")));
        assert!(!authorized(Some("s3cret"), &headers("Bearer nope")));
        let sigv4 = "AWS4-HMAC-SHA256 Credential=s3cret/20261122/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=abc";
        assert!(authorized(Some("s3cret"), &headers(sigv4)));
        assert!(!authorized(Some("other"), &headers(sigv4)));
    }
}
