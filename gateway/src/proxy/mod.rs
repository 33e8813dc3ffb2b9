//! `ANY /svc/{name}/{path...}`: a reverse proxy to a service's healthy copies.
//!
//! Bodies stream both ways (nothing is buffered), connections to copies are pooled and kept
//! alive, and each request holds its copy's in-flight count until the last byte of the answer
//! has been sent — that count is what least-outstanding picking and draining rely on.
//! Answers: 503 when no copy is healthy, 504 when the copy does not start answering within the
//! service's request timeout, 502 when it cannot be reached. A request whose copy refuses the
//! connection is tried once more on another copy (nothing of it was read or sent, so that is safe
//! whatever its method or body). Connections are in `upstream.rs`.
//!
//! Plain HTTP/1.1 service requests never reach this: `h1` forwards them on the client's
//! connection itself. This path takes the rest (HTTP/2, signed requests, `Expect`, ...).

mod answers;
pub(crate) mod h1;
mod upstream;

use crate::errors::AwsError;
use crate::http::{BoxError, Guarded, Resp};
use http_body_util::BodyExt;
use hyper::header::{HeaderMap, HeaderName, HeaderValue, HOST};
use hyper::{Request, Response, Uri, Version};
use skiff_services::RouteLookup;
use std::net::SocketAddr;
use std::sync::Arc;
use upstream::{Pool, SendError};

pub(crate) struct Proxy {
    pool: Arc<Pool>,
    /// Idle connections of the HTTP/1.1 path (`h1`).
    pub(crate) idle: Arc<h1::IdlePool>,
}

impl Proxy {
    /// Needs a tokio runtime: the pool's idle sweep runs as a task.
    pub(crate) fn new() -> Self {
        Self { pool: Pool::new(), idle: Arc::default() }
    }
}

/// Headers that describe one connection, not the message: never forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP: [&str; 8] = ["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "proxy-authorization"];

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Most messages carry none of them (a `Connection` header is one of them, so the names it
    // lists are covered): looking costs a pass over the names, removing costs a hash each.
    if !headers.keys().any(|name| HOP_BY_HOP.contains(&name.as_str())) {
        return;
    }
    let named: Vec<HeaderName> = headers
        .get_all("connection")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for name in named.iter().chain(HOP_BY_HOP.map(HeaderName::from_static).iter()) {
        headers.remove(name);
    }
}

/// `rest` is the path after `/svc/{name}` (at least "/"), with the query if any.
/// `token` is the server's own, if set: a client sends it to get past the gateway, and it must
/// not reach the service's code.
pub(crate) async fn forward(
    proxy: &Proxy,
    routes: &dyn RouteLookup,
    token: Option<&str>,
    name: &str,
    rest: &str,
    peer: SocketAddr,
    req: Request<crate::http::ReqBody>,
) -> Resp {
    let Some(route) = routes.route(name) else {
        return answers::unknown_service(name);
    };
    let (mut parts, body) = req.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    let headers = &mut parts.headers;
    crate::auth::strip_credential(token, headers);
    let forwarded_for = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(earlier) => format!("{earlier}, {}", peer.ip()),
        None => peer.ip().to_string(),
    };
    if let Ok(v) = HeaderValue::from_str(&forwarded_for) {
        headers.insert("x-forwarded-for", v);
    }
    if let Some(host) = parts.uri.authority().map(|a| a.to_string()).or_else(|| headers.get(HOST).and_then(|h| h.to_str().ok()).map(str::to_string)) {
        if let Ok(v) = HeaderValue::from_str(&host) {
            headers.insert("x-forwarded-host", v.clone());
            headers.entry(HOST).or_insert(v);
        }
    }
    headers.insert("x-forwarded-proto", HeaderValue::from_static("http"));
    if let Ok(v) = HeaderValue::from_str(&format!("/svc/{name}")) {
        headers.insert("x-forwarded-prefix", v);
    }

    parts.uri = match rest.parse::<Uri>() {
        Ok(uri) => uri,
        Err(e) => return AwsError::InvalidRequestContent.response(format!("cannot forward this path: {e}")),
    };
    parts.version = Version::HTTP_11;
    let mut request = Request::from_parts(parts, body);
    let mut skip: Option<String> = None;
    let mut refused = None;
    for _ in 0..2 {
        let Some(claim) = route.pick(skip.as_deref()) else {
            if refused.is_some() {
                break;
            }
            return answers::no_healthy_copy(name);
        };
        let endpoint = claim.endpoint();
        match tokio::time::timeout(route.request_timeout(), proxy.pool.send(endpoint.addr, &endpoint.id, request)).await {
            Err(_) => return answers::timed_out(name, route.request_timeout()),
            Ok(Err(SendError::Connect { error, request: unsent })) => {
                skip = Some(endpoint.id.clone());
                refused = Some(error);
                request = *unsent;
            }
            Ok(Err(e)) => return AwsError::BadGateway.response(format!("service {name}: {e}")),
            Ok(Ok(resp)) => {
                let (mut parts, body) = resp.into_parts();
                strip_hop_by_hop(&mut parts.headers);
                // The copy's in-flight claim lasts until its answer is done (or dropped).
                let body = Guarded::new(body, claim).map_err(|e| Box::new(e) as BoxError).boxed();
                return Response::from_parts(parts, body);
            }
        }
    }
    answers::no_copy_accepted(name, refused)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs.iter().map(|(n, v)| (HeaderName::from_static(n), HeaderValue::from_static(v))).collect()
    }

    #[test]
    fn a_message_without_hop_by_hop_headers_is_left_as_it_is() {
        let mut h = headers(&[("host", "a"), ("x-one", "1"), ("accept", "*/*")]);
        strip_hop_by_hop(&mut h);
        assert_eq!(h, headers(&[("host", "a"), ("x-one", "1"), ("accept", "*/*")]));
    }

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_are_removed() {
        let mut h = headers(&[("te", "trailers"), ("x-keep", "1"), ("upgrade", "h2c")]);
        strip_hop_by_hop(&mut h);
        assert_eq!(h, headers(&[("x-keep", "1")]));
        let mut h = headers(&[("connection", "keep-alive, X-Private"), ("x-private", "secret"), ("x-keep", "1")]);
        strip_hop_by_hop(&mut h);
        assert_eq!(h, headers(&[("x-keep", "1")]));
    }
}
