//! A callback URL checked against the policy: when the event is accepted (a bad one is a 400
//! then, not a silent failure later) and again, by address, when the callback is sent.

use crate::callback_policy::CallbackPolicy;
use crate::error::InvokerError;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

const MAX_URL_LEN: usize = 2048;

/// Parses and checks a callback URL, resolving its host: every address it has must be allowed.
pub(crate) async fn check(url: &str, policy: &CallbackPolicy) -> Result<Url, InvokerError> {
    let invalid = |why: String| InvokerError::invalid(format!("invalid callback URL {:?}: {why}", redact_str(url)));
    let parsed = Url::parse(url).map_err(|e| invalid(e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") || url.len() > MAX_URL_LEN {
        return Err(invalid(format!("expected an http(s) URL of at most {MAX_URL_LEN} bytes")));
    }
    let host = parsed.host_str().ok_or_else(|| invalid("no host".into()))?;
    if let Some(ip) = literal(&parsed) {
        return match policy.allows(ip) {
            true => Ok(parsed),
            false => Err(invalid(format!("{ip} is not a public address (the operator may allow it with --callback-allow)"))),
        };
    }
    if policy.allows_host(host) {
        return Ok(parsed);
    }
    let port = parsed.port_or_known_default().unwrap_or(80);
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, port)).await.map_err(|e| invalid(format!("cannot resolve {host}: {e}")))?.collect();
    match addresses.iter().find(|a| !policy.allows(a.ip())) {
        Some(refused) => Err(invalid(format!("{host} resolves to {}, not a public address (the operator may allow it with --callback-allow)", refused.ip()))),
        None => Ok(parsed),
    }
}

/// The URL's host when it is an IP address (in whatever spelling it was written).
pub(crate) fn literal(url: &Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
        url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
        url::Host::Domain(_) => None,
    }
}

/// The URL as it may be logged: without user name or password.
pub(crate) fn redact(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.to_string()
}

fn redact_str(url: &str) -> String {
    Url::parse(url).map_or_else(|_| "<unparsable>".to_string(), |u| redact(&u))
}

/// Resolves names for the callback client, keeping only addresses the policy allows: the
/// connection can only go where the check said it may, whatever the name resolves to now.
pub(crate) struct PolicyResolver(pub(crate) Arc<CallbackPolicy>);

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.0.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = match policy.allows_host(&host) {
                true => all,
                false => all.into_iter().filter(|a| policy.allows(a.ip())).collect(),
            };
            if allowed.is_empty() {
                return Err(format!("{host} resolves to no address callbacks may reach").into());
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn loopback_in_any_spelling_and_credentials_are_handled() {
        let policy = CallbackPolicy::default();
        for url in [
            "http://127.0.0.1:8080/x",
            "http://0x7f000001/x",
            "http://2130706433/x",
            "http://0177.0.0.1/x",
            "http://[::1]/x",
            "http://[::ffff:127.0.0.1]/x",
            "http://169.254.169.254/latest/meta-data",
            "http://localhost:9000/x",
            "http://user:pw@10.0.0.1/x",
            "ftp://example.com/x",
            "http:///x",
        ] {
            let refused = check(url, &policy).await.unwrap_err().to_string();
            assert!(!refused.contains("pw@"), "{refused}");
        }
        let allowed = CallbackPolicy::parse(&["127.0.0.1".into()]).unwrap();
        assert!(check("http://0x7f000001:9/x", &allowed).await.is_ok());
        let url = Url::parse("http://alice:s3cret@hooks.example/cb?x=1").unwrap();
        assert_eq!(redact(&url), "http://hooks.example/cb?x=1");
    }
}
