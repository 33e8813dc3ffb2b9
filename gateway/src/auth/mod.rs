//! Who sent a request, and whether they may do what it asks.
//!
//! Without `--token` the server is open (it then listens on loopback only). With one, every
//! route but `/healthz` needs a credential:
//! - `Authorization: Bearer <token>` (the CLI, curl): the bootstrap admin;
//! - an AWS SigV4 signature (`AWS4-HMAC-SHA256`), verified: by the admin's key (id and secret
//!   both the token), or by an access key created with `POST /v1/keys`, whose IAM policy is
//!   then checked against the route's action and resource.
//!
//! A call another node forwarded carries the cluster secret instead: its caller was checked at
//! the node it entered by.

pub(crate) mod actions;
pub(crate) mod keys;
pub(crate) mod local;
pub(crate) mod sigv4;

use crate::body::read_body;
use crate::errors::AwsError;
use crate::http::{request_bytes, ReqBody, Resp};
use crate::route::Route;
use hyper::header::AUTHORIZATION;
use hyper::{HeaderMap, Request};
use keys::{KeyRing, KeysFollower, Sealer};
use skiff_api::access_key::AccessKey;
use skiff_api::iam::Decision;
use skiff_state::config::{follow, Collection, ConfigStore, Typed};
use skiff_state::StoreError;
use std::sync::Arc;

/// The largest body a signed request may have: a Lambda code upload.
const MAX_SIGNED_BODY: usize = 72 * 1024 * 1024;

/// Who a request is from.
#[derive(Debug, Clone)]
pub(crate) enum Identity {
    /// No token is set: everything is allowed.
    Open,
    /// The bootstrap admin (the token).
    Admin,
    /// An access key, limited by its policy.
    Key(AccessKey),
}

pub struct Auth {
    pub(crate) token: Option<String>,
    pub(crate) keys: Arc<KeyRing>,
    pub(crate) sealer: Sealer,
    pub(crate) store: Typed<AccessKey>,
    region: String,
}

impl Auth {
    /// Loads the access keys from `store` and follows their changes.
    pub async fn start(token: Option<String>, store: Arc<dyn ConfigStore>, secrets_key: &[u8; 32], region: String) -> Result<Self, StoreError> {
        let keys = Arc::new(KeyRing::default());
        let store = Typed::new(store, Collection::AccessKeys);
        follow::start(store.clone(), KeysFollower(keys.clone())).await?;
        Ok(Self { token, keys, sealer: Sealer::new(secrets_key), store, region })
    }

    /// The request's sender. A signed request's body is read to check the signature (it covers
    /// the body) and handed back with the request.
    pub(crate) async fn authenticate(&self, req: Request<ReqBody>) -> Result<(Identity, Request<ReqBody>), Resp> {
        let Some(token) = self.token.as_deref() else { return Ok((Identity::Open, req)) };
        let header = req.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_string);
        let Some(header) = header else {
            return Err(AwsError::Unauthorized.response("missing credentials: a bearer token or an AWS SigV4 signature is required"));
        };
        if let Some(presented) = bearer(&header) {
            return match constant_time_eq(presented.as_bytes(), token.as_bytes()) {
                true => Ok((Identity::Admin, req)),
                false => Err(AwsError::Unauthorized.response("invalid token")),
            };
        }
        let Some(parsed) = sigv4::Authorization::parse(&header) else {
            return Err(AwsError::Unauthorized.response("unsupported Authorization scheme: use Bearer or AWS4-HMAC-SHA256"));
        };
        let auth = parsed.map_err(|e| AwsError::InvalidSignature.response(e.to_string()))?;
        let (identity, secret) = self.claimed(&auth.access_key, token)?;
        let (parts, body) = req.into_parts();
        let body = read_body(body, MAX_SIGNED_BODY).await.map_err(|_| AwsError::RequestTooLarge.response("signed request body too large or unreadable"))?;
        let signed = sigv4::SignedRequest {
            method: parts.method.as_str(),
            raw_path: parts.uri.path(),
            raw_query: parts.uri.query(),
            headers: &parts.headers,
            body: &body,
        };
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        sigv4::verify(&auth, &signed, &secret, &self.region, now).map_err(|e| AwsError::InvalidSignature.response(e.to_string()))?;
        Ok((identity, Request::from_parts(parts, request_bytes(body))))
    }

    /// The identity an access key id claims, and the secret its signature must be made with.
    fn claimed(&self, access_key: &str, token: &str) -> Result<(Identity, String), Resp> {
        if constant_time_eq(access_key.as_bytes(), token.as_bytes()) {
            return Ok((Identity::Admin, token.to_string()));
        }
        let unknown = || AwsError::UnrecognizedClient.response("The security token included in the request is invalid.");
        let key = self.keys.get(access_key).ok_or_else(unknown)?;
        let secret = self.sealer.unseal(&key.sealed_secret).ok_or_else(|| {
            tracing::error!(key = %key.id, "an access key's secret cannot be unsealed: was the secrets key changed?");
            unknown()
        })?;
        Ok((Identity::Key(key), secret))
    }

    /// Whether `identity` may take `route`: a key's policy must allow the route's action on
    /// its resource (an explicit Deny wins).
    pub(crate) fn authorize(&self, identity: &Identity, route: &Route<'_>) -> Result<(), Resp> {
        let Identity::Key(key) = identity else { return Ok(()) };
        let Some((action, resource)) = actions::of(route, &self.region) else { return Ok(()) };
        match key.policy.decide(action, &resource) {
            Decision::Allowed => Ok(()),
            Decision::ExplicitlyDenied | Decision::NotAllowed => Err(AwsError::AccessDenied.response(format!(
                "User: arn:aws:iam::{}:user/{} is not authorized to perform: {action} on resource: {resource}",
                skiff_api::arn::ACCOUNT,
                key.name
            ))),
        }
    }
}

/// Whether a request whose only credential is `authorization` gets in without the full check:
/// always on an open server (no `token`), else when it is the server's bearer token (the admin,
/// allowed everything). `false` leaves the decision to [`Auth::authenticate`]: a signature, a
/// wrong token, none at all.
pub(crate) fn admits_plainly(token: Option<&str>, authorization: Option<&[u8]>) -> bool {
    let Some(token) = token else { return true };
    let presented = authorization.and_then(|v| std::str::from_utf8(v).ok()).and_then(bearer);
    presented.is_some_and(|p| constant_time_eq(p.as_bytes(), token.as_bytes()))
}

/// With a server token, `Authorization` carried the Skiff credential (bearer, or SigV4 access key)
/// that got the request past the gateway. It is not for a function's or service's code to see:
/// with it, that code could call the control plane.
pub(crate) fn strip_credential(token: Option<&str>, headers: &mut HeaderMap) {
    if token.is_some() {
        headers.remove(AUTHORIZATION);
    }
}

/// Compares digests, not the secrets themselves: the time taken says nothing about the
/// secret, not even its length.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use sha2::{Digest, Sha256};
    let (a, b) = (Sha256::digest(a), Sha256::digest(b));
    a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The credentials of `Authorization: Bearer <token>`; the scheme name is case-insensitive
/// (RFC 9110 §11.1).
fn bearer(header: &str) -> Option<&str> {
    let (scheme, credentials) = header.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| credentials.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_is_case_insensitive_and_tokens_compare_exactly() {
        for header in ["Bearer t0k", "bearer t0k", "BEARER  t0k "] {
            assert_eq!(bearer(header), Some("t0k"), "{header}");
        }
        assert_eq!(bearer("Basic dXNlcjpwYXNz"), None);
        assert!(constant_time_eq(b"t0k", b"t0k"));
        assert!(!constant_time_eq(b"t0k", b"t0"));
        assert!(!constant_time_eq(b"t0k", b"t0k "));
    }
}
