//! Access keys: an id, a secret for SigV4 and the policy that limits what the key may do. The
//! stored record holds the secret only sealed (encrypted under a key kept outside the state
//! store): SigV4 needs the secret itself to check a signature, so a hash would not do.

use crate::error::Invalid;
use crate::iam::PolicyDocument;
use serde::{Deserialize, Serialize};

/// Longest key name, as IAM's user names.
const MAX_NAME: usize = 64;

/// An access key as stored in the config store.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AccessKey {
    pub id: String,
    pub name: String,
    pub policy: PolicyDocument,
    /// The secret, sealed: base64 of nonce and ciphertext.
    pub sealed_secret: String,
    pub created_at_ms: u64,
}

/// `POST /v1/keys`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyBody {
    pub name: String,
    /// An IAM policy document, as JSON text or as an object.
    pub policy: serde_json::Value,
}

impl CreateKeyBody {
    /// The name and the policy, checked.
    pub fn parse(&self) -> Result<(String, PolicyDocument), Invalid> {
        let ok = (1..=MAX_NAME).contains(&self.name.len()) && self.name.bytes().all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
        if !ok {
            return Err(Invalid(format!("invalid key name {:?}: must match [A-Za-z0-9+=,.@_-]{{1,{MAX_NAME}}}", self.name)));
        }
        let text = match &self.policy {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        Ok((self.name.clone(), PolicyDocument::parse(&text)?))
    }
}
