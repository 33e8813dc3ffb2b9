//! An open server (no `--token`, so it listens on loopback only) is still reachable by every
//! web page open in a browser on the same machine. Two attacks follow, and are refused here:
//!
//! - **DNS rebinding**: a page at `evil.example` makes its name resolve to 127.0.0.1, and the
//!   browser, thinking it talks to `evil.example`, lets the page read our answers. The browser
//!   still sends `Host: evil.example`, so only loopback names are served.
//! - **Cross-site requests**: a page POSTs to `http://127.0.0.1:9000/v1/triggers` as a "simple
//!   request" (no preflight: `text/plain`, a form). Browsers send `Origin` with every such
//!   request, so one whose `Origin` is not the server's own is refused; and control requests must
//!   carry JSON, which no simple request can, so a page cannot change anything even through a
//!   client that leaves `Origin` out.
//!
//! A server with a token needs none of this: a browser holds no credential for it.

use crate::route::Route;
use hyper::header::{CONTENT_TYPE, HOST, ORIGIN};
use hyper::{HeaderMap, Method};
use std::net::IpAddr;

/// Why a request to an open server was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Its `Host` is not a loopback name.
    ForeignHost(String),
    /// Its `Origin` is not the server's own.
    ForeignOrigin(String),
    /// A control request with a body that is not JSON.
    NotJson(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::ForeignHost(host) => {
                write!(f, "Host {host:?} is not a loopback name: without --token the server answers only 127.0.0.1, [::1] and localhost")
            }
            Refusal::ForeignOrigin(origin) => write!(f, "requests from origin {origin:?} are refused: it is not this server"),
            Refusal::NotJson(kind) => write!(f, "control requests must send Content-Type: application/json, not {kind:?}"),
        }
    }
}

/// Checks a request to an open server; `authority` is the request URI's (HTTP/2's `:authority`).
pub(crate) fn check(route: &Route<'_>, method: &Method, headers: &HeaderMap, authority: Option<&str>) -> Result<(), Refusal> {
    let header = |name| headers.get(name).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let host = header(HOST).or_else(|| authority.map(str::to_string));
    check_site(host.as_deref(), header(ORIGIN).as_deref())?;
    let changes = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    if changes && is_control(route) {
        if let Some(kind) = header(CONTENT_TYPE).filter(|kind| !is_json(kind)) {
            return Err(Refusal::NotJson(kind));
        }
    }
    Ok(())
}

/// The part of [`check`] every route of an open server must pass: a loopback `Host`, and an
/// `Origin`, if any, that is the server's own.
pub(crate) fn check_site(host: Option<&str>, origin: Option<&str>) -> Result<(), Refusal> {
    if let Some(host) = host {
        if !is_loopback_authority(host) {
            return Err(Refusal::ForeignHost(host.to_string()));
        }
    }
    if let Some(origin) = origin {
        if !host.is_some_and(|host| is_origin_of(origin, host)) {
            return Err(Refusal::ForeignOrigin(origin.to_string()));
        }
    }
    Ok(())
}

/// Routes that manage the platform; calling a function (whose payload may be anything) or a
/// service is not one.
fn is_control(route: &Route<'_>) -> bool {
    !matches!(route, Route::Invoke { .. } | Route::FunctionUrl { .. } | Route::ServiceProxy { .. } | Route::AcceptEvent { .. } | Route::Health)
}

/// `application/json`, `application/x-amz-json-1.1`, `application/problem+json`, with or
/// without parameters.
fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || essence.starts_with("application/x-amz-json") || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// `127.0.0.1:9000`, `[::1]:9000`, `localhost`, `api.localhost:80` (RFC 6761 names).
fn is_loopback_authority(authority: &str) -> bool {
    let host = match authority.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => authority.rsplit_once(':').map_or(authority, |(host, port)| if port.chars().all(|c| c.is_ascii_digit()) { host } else { authority }),
    };
    let host = host.to_ascii_lowercase();
    match host.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host == "localhost" || host.ends_with(".localhost"),
    }
}

/// `Origin: http://127.0.0.1:9000` for `Host: 127.0.0.1:9000` (any scheme: TLS may end in front).
fn is_origin_of(origin: &str, host: &str) -> bool {
    let authority = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://"));
    authority.is_some_and(|a| a.eq_ignore_ascii_case(host))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (hyper::header::HeaderName::from_static(k), HeaderValue::from_static(v))).collect()
    }

    #[test]
    fn only_loopback_names_are_served() {
        for host in ["127.0.0.1:9000", "127.8.9.1", "[::1]:9000", "localhost", "LOCALHOST:80", "api.localhost:9000"] {
            assert_eq!(check(&Route::ListFunctions, &Method::GET, &headers(&[("host", host)]), None), Ok(()), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:9000",
            "10.0.0.1:9000",
            "0x7f000001",
            "2130706433",
            "127.0.0.1.evil.example",
            "localhost.evil.example",
            "[::ffff:8.8.8.8]:80",
        ] {
            let refused = check(&Route::ListFunctions, &Method::GET, &headers(&[("host", host)]), None);
            assert!(matches!(refused, Err(Refusal::ForeignHost(_))), "{host}: {refused:?}");
        }
        let refused = check(&Route::ListFunctions, &Method::GET, &HeaderMap::new(), Some("evil.example:9000"));
        assert!(matches!(refused, Err(Refusal::ForeignHost(_))), "HTTP/2 authority is checked too");
    }

    #[test]
    fn a_foreign_origin_is_refused_on_every_route() {
        let own = headers(&[("host", "127.0.0.1:9000"), ("origin", "http://127.0.0.1:9000")]);
        assert_eq!(check(&Route::AddTrigger, &Method::POST, &own, None), Ok(()));
        for origin in ["http://evil.example", "null", "http://127.0.0.1:9001", "http://localhost:9000"] {
            let mut h = headers(&[("host", "127.0.0.1:9000")]);
            h.insert(ORIGIN, HeaderValue::from_str(origin).unwrap());
            let refused = check(&Route::Invoke { function: "f" }, &Method::POST, &h, None);
            assert!(matches!(refused, Err(Refusal::ForeignOrigin(_))), "{origin}: {refused:?}");
        }
    }

    #[test]
    fn control_requests_must_be_json_and_calls_may_be_anything() {
        for kind in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
            let mut h = headers(&[("host", "localhost:9000")]);
            h.insert(CONTENT_TYPE, HeaderValue::from_str(kind).unwrap());
            assert!(matches!(check(&Route::AddTrigger, &Method::POST, &h, None), Err(Refusal::NotJson(_))), "{kind}");
            assert_eq!(check(&Route::Invoke { function: "f" }, &Method::POST, &h, None), Ok(()), "{kind}");
            assert_eq!(check(&Route::ListTriggers, &Method::GET, &h, None), Ok(()), "{kind}");
        }
        for kind in ["application/json", "application/json; charset=utf-8", "application/x-amz-json-1.1"] {
            let mut h = headers(&[("host", "localhost:9000")]);
            h.insert(CONTENT_TYPE, HeaderValue::from_str(kind).unwrap());
            assert_eq!(check(&Route::AddTrigger, &Method::POST, &h, None), Ok(()), "{kind}");
        }
        // No body type at all (a DELETE, a redrive): nothing a browser could send cross-site
        // without an Origin.
        assert_eq!(check(&Route::RemoveTrigger { id: "t" }, &Method::DELETE, &headers(&[("host", "localhost")]), None), Ok(()));
    }
}
