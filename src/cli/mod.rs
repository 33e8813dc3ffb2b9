//! Client commands: each talks to a running server over its HTTP API.

pub mod deploy;
pub mod events;
pub mod functions;
pub mod invoke;
pub mod keys;
pub mod logs;
mod manifest;
pub mod name;
pub mod nodes;
mod placement;
pub mod services;
mod table;
pub mod tasks;
pub mod triggers;
pub mod versions;
mod zip_folder;

use anyhow::{bail, Context};
use reqwest::blocking::{RequestBuilder, Response};

pub struct Client {
    base: String,
    token: Option<String>,
    http: reqwest::blocking::Client,
}

impl Client {
    pub fn new(url: &str, token: Option<String>) -> anyhow::Result<Self> {
        let http = reqwest::blocking::Client::builder().timeout(None).build().context("building the HTTP client")?;
        Ok(Self { base: url.trim_end_matches('/').to_string(), token, http })
    }

    pub fn request(&self, method: reqwest::Method, path: &str) -> RequestBuilder {
        let req = self.http.request(method, format!("{}{}", self.base, path));
        match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    /// Sends a request and turns a service error into a readable message.
    pub fn send(&self, req: RequestBuilder) -> anyhow::Result<Response> {
        let resp = req.send().with_context(|| format!("cannot reach the skiff server at {}", self.base))?;
        if resp.status().is_client_error() || resp.status().is_server_error() {
            let status = resp.status();
            let body = resp.text().unwrap_or_default();
            bail!("{}", service_error_message(status, &body));
        }
        Ok(resp)
    }
}

/// `ResourceNotFoundException: Function not found: x` from an AWS-style error body.
fn service_error_message(status: reqwest::StatusCode, body: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(body) {
        Ok(v) if v.get("message").is_some() => format!("{}: {}", v["__type"].as_str().unwrap_or(status.as_str()), v["message"].as_str().unwrap_or_default()),
        _ => format!("server answered {status}: {}", body.trim()),
    }
}

/// Reads a file the user named, refusing one larger than `limit` bytes (or endless, like
/// `/dev/zero`) instead of reading until memory runs out.
pub fn read_bounded(path: &std::path::Path, limit: u64) -> anyhow::Result<Vec<u8>> {
    use std::io::Read as _;
    let file = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes).with_context(|| format!("reading {}", path.display()))?;
    if bytes.len() as u64 > limit {
        bail!("{} is larger than {} MiB, more than the server takes", path.display(), limit >> 20);
    }
    Ok(bytes)
}

/// A text file (manifest, policy, task definition) the user named, at most 1 MiB.
pub fn read_text(path: &std::path::Path) -> anyhow::Result<String> {
    String::from_utf8(read_bounded(path, 1 << 20)?).with_context(|| format!("{} is not UTF-8 text", path.display()))
}
