//! A function's URL config: who may call `/fn/NAME/`. Kept with the function (it is part of
//! its definition, replicated as the rest of it), changed only by the URL-config operations.

use serde::{Deserialize, Serialize};

/// Lambda's `AuthType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UrlAuth {
    /// Anyone may call the URL: no credentials are asked for, even on a server with a token.
    None,
    /// The server's own authentication (a bearer token or a SigV4 signature), as on every
    /// other route.
    AwsIam,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UrlConfig {
    pub auth: UrlAuth,
    pub created_at_ms: u64,
    pub updated_at_ms: u64,
}

impl UrlConfig {
    /// `auth` set at `now` over `old` (none: created now).
    pub fn set(old: Option<&UrlConfig>, auth: UrlAuth, now: u64) -> Self {
        Self { auth, created_at_ms: old.map_or(now, |o| o.created_at_ms), updated_at_ms: now }
    }

    /// Whether the URL takes calls without credentials.
    pub fn is_public(&self) -> bool {
        self.auth == UrlAuth::None
    }
}
