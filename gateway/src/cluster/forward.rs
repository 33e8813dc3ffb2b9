//! Handing a synchronous call to the node that should run it, and running it here when the
//! walk reaches this node.
//!
//! Safety rule: a call is tried on the next node only when it cannot have run on the last one
//! — the connection could not be opened, or the node answered a throttle before running it
//! (Lambda Invoke only: a function URL's own 429 is the function's answer). Once a request
//! went out and anything else happened, that answer (or a 502) is final: never twice executed.

use crate::body::{read_body, BodyError};
use crate::errors::AwsError;
use crate::http::Resp;
use crate::routes::lambda::MAX_SYNC_PAYLOAD;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONNECTION, CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use hyper::{Request, StatusCode, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use skiff_api::NodeInfo;
use skiff_cluster::secret::{ClusterSecret, FORWARDED_HEADER, SECRET_HEADER};
use std::time::Duration;

/// The header naming the node that executed an invocation.
pub(crate) const NODE_HEADER: &str = "x-skiff-node";

/// Keep-alive HTTP/1.1 connections to the other nodes.
pub(crate) struct Forwarder {
    client: Client<HttpConnector, Full<Bytes>>,
}

/// How a walk down the order ended.
pub(crate) enum Walked {
    /// A node (or the walk itself) answered.
    Answered(Resp),
    /// The walk reached this node: run the call here, with its body read.
    Here(Request<Full<Bytes>>),
}

/// What kind of call is walked: whether a 429 from a node is a throttle before execution.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallKind {
    LambdaInvoke,
    FunctionUrl,
}

impl Forwarder {
    pub(crate) fn new() -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(1)));
        let client = Client::builder(TokioExecutor::new()).pool_idle_timeout(Duration::from_secs(30)).build(connector);
        Self { client }
    }

    /// Tries the nodes of `path` in turn (`None` = this node) as the rule above allows.
    pub(crate) async fn walk(&self, me: &str, secret: &ClusterSecret, kind: CallKind, path: Vec<Option<NodeInfo>>, req: Request<Incoming>) -> Walked {
        let (parts, body) = req.into_parts();
        let body = match read_body(body, MAX_SYNC_PAYLOAD).await {
            Ok(b) => b,
            Err(BodyError::TooLarge) => return Walked::Answered(AwsError::RequestTooLarge.response("request body exceeds 6 MB")),
            Err(BodyError::Io(e)) => return Walked::Answered(AwsError::InvalidRequestContent.response(e)),
        };
        let mut tried = Vec::new();
        for hop in path {
            let Some(node) = hop else {
                return Walked::Here(Request::from_parts(parts, Full::new(body)));
            };
            match self.send(me, secret, &node, &parts, body.clone()).await {
                Ok(resp) if kind == CallKind::LambdaInvoke && resp.status() == StatusCode::TOO_MANY_REQUESTS => {
                    tried.push(format!("{} is at its limit", node.name));
                }
                Ok(resp) => return Walked::Answered(resp.map(|b| b.map_err(Into::into).boxed())),
                Err(e) if e.is_connect() => tried.push(format!("{} is unreachable", node.name)),
                Err(e) => {
                    let message = format!("node {} failed during the call: {e}", node.name);
                    return Walked::Answered(AwsError::BadGateway.response(message));
                }
            }
        }
        Walked::Answered(AwsError::TooManyRequests.response(format!("no node can take the call: {}", tried.join(", "))))
    }

    async fn send(
        &self,
        me: &str,
        secret: &ClusterSecret,
        node: &NodeInfo,
        parts: &hyper::http::request::Parts,
        body: Bytes,
    ) -> Result<hyper::Response<Incoming>, hyper_util::client::legacy::Error> {
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let uri: Uri = format!("{}{path}", node.advertise.trim_end_matches('/')).parse().unwrap_or_default();
        let mut req = Request::builder().method(parts.method.clone()).uri(uri).body(Full::new(body)).expect("a request from valid parts");
        let headers = req.headers_mut();
        for (name, value) in &parts.headers {
            if ![HOST, CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING].contains(name) && name != SECRET_HEADER {
                headers.append(name, value.clone());
            }
        }
        if let (Ok(secret), Ok(me)) = (HeaderValue::from_str(secret.as_str()), HeaderValue::from_str(me)) {
            headers.insert(SECRET_HEADER, secret);
            headers.insert(FORWARDED_HEADER, me);
        }
        self.client.request(req).await
    }
}

/// Marks a response as executed by `node`.
pub(crate) fn stamp(mut resp: Resp, node: &str) -> Resp {
    if let Ok(v) = HeaderValue::from_str(node) {
        resp.headers_mut().insert(NODE_HEADER, v);
    }
    resp
}
