//! Handing a synchronous call to the node that should run it, and running it here when the
//! walk reaches this node.
//!
//! Safety rule: a call is tried on the next node only when it cannot have run on the last one
//! — the connection could not be opened, or the node answered a throttle before running it
//! (Lambda Invoke only: a function URL's own 429 is the function's answer). Once a request
//! went out and anything else happened, that answer (or a 502) is final: never twice executed.
//!
//! A Lambda Invoke's payload is read whole first, since a throttled node has read it all and
//! the next node needs it again. A function URL's body streams to the node that runs it
//! ([`Unsent`]): only a node that could not be reached is passed over, and that one read none.

use super::unsent::Unsent;
use crate::body::{read_body, BodyError, BODY_READ_TIMEOUT};
use crate::errors::AwsError;
use crate::http::{request_bytes, ReqBody, Resp};
use crate::routes::lambda::MAX_SYNC_PAYLOAD;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body as _, Incoming};
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
    client: Client<HttpConnector, ReqBody>,
}

/// The request body while the walk lasts: what each try sends.
enum Held {
    /// Read whole: every try sends all of it.
    Whole(Bytes),
    /// Streamed to the first node that reads it.
    Streamed(Unsent),
}

impl Held {
    /// The body for the next try, or `None` if a node already read some of it.
    fn for_try(&self) -> Option<ReqBody> {
        match self {
            Held::Whole(bytes) => Some(request_bytes(bytes.clone())),
            Held::Streamed(unsent) => unsent.is_here().then(|| unsent.offer().boxed()),
        }
    }

    /// Resolves once the client has sent the whole body (at once for a body read whole).
    async fn all_sent(&self) {
        if let Held::Streamed(unsent) = self {
            unsent.all_sent().await;
        }
    }

    /// `send`'s result, unless the node has not begun answering `patience` after the client sent
    /// the whole body: a slow upload is the client's time, not the node's. The upload itself
    /// gets [`BODY_READ_TIMEOUT`], as a body read here would.
    async fn within_patience<T>(&self, patience: Duration, send: impl std::future::Future<Output = T>) -> Option<T> {
        let limit = async {
            let _ = tokio::time::timeout(BODY_READ_TIMEOUT, self.all_sent()).await;
            tokio::time::sleep(patience).await;
        };
        tokio::select! {
            answer = send => Some(answer),
            () = limit => None,
        }
    }
}

/// Who forwards a call: this node's name, and the cluster's secret the receiving node checks
/// before it runs anything.
#[derive(Clone, Copy)]
pub(crate) struct Signer<'a> {
    pub(crate) node: &'a str,
    pub(crate) secret: &'a ClusterSecret,
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

    /// Tries the nodes of `path` in turn (`None`: `run_here`, on this node) as the rule above
    /// allows; the answer is the first final one, or the last throttle. A node that has not
    /// begun answering within `patience` (a frozen node still holding its lease) gets a 504.
    pub(crate) async fn walk<F, Fut>(
        &self,
        signer: Signer<'_>,
        kind: CallKind,
        path: Vec<Option<NodeInfo>>,
        req: Request<crate::http::ReqBody>,
        patience: Duration,
        mut run_here: F,
    ) -> Resp
    where
        F: FnMut(Request<ReqBody>) -> Fut,
        Fut: std::future::Future<Output = Resp>,
    {
        let (parts, body) = req.into_parts();
        let body = match kind {
            CallKind::LambdaInvoke => match read_body(body, MAX_SYNC_PAYLOAD).await {
                Ok(b) => Held::Whole(b),
                Err(BodyError::TooLarge) => return AwsError::RequestTooLarge.response("request body exceeds 6 MB"),
                Err(BodyError::Io(e)) => return AwsError::InvalidRequestContent.response(e),
            },
            CallKind::FunctionUrl => Held::Streamed(Unsent::new(body)),
        };
        let retry_on_throttle = kind == CallKind::LambdaInvoke;
        let mut unreachable = Vec::new();
        let mut last_throttle = None;
        for hop in path {
            let Some(offered) = body.for_try() else {
                return AwsError::BadGateway.response("the request body was partly sent to a node that failed");
            };
            let resp = match hop {
                None => run_here(Request::from_parts(parts.clone(), offered)).await,
                Some(node) => match body.within_patience(patience, self.send(signer, &node, &parts, offered)).await {
                    Some(Ok(resp)) => resp.map(|b| b.map_err(Into::into).boxed()),
                    Some(Err(e)) if e.is_connect() => {
                        unreachable.push(node.name);
                        continue;
                    }
                    Some(Err(e)) => return AwsError::BadGateway.response(format!("node {} failed during the call: {e}", node.name)),
                    // Sent, so it may be running there: answered, never tried elsewhere.
                    None => {
                        let message = format!("node {} did not answer within {} s", node.name, patience.as_secs());
                        return AwsError::GatewayTimeout.response(message);
                    }
                },
            };
            if !(retry_on_throttle && resp.status() == StatusCode::TOO_MANY_REQUESTS) {
                return resp;
            }
            last_throttle = Some(resp);
        }
        last_throttle.unwrap_or_else(|| AwsError::TooManyRequests.response(format!("no node can take the call: {} unreachable", unreachable.join(", "))))
    }

    async fn send(
        &self,
        signer: Signer<'_>,
        node: &NodeInfo,
        parts: &hyper::http::request::Parts,
        body: ReqBody,
    ) -> Result<hyper::Response<Incoming>, hyper_util::client::legacy::Error> {
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let uri: Uri = format!("{}{path}", node.advertise.trim_end_matches('/')).parse().unwrap_or_default();
        let mut req = Request::builder().method(parts.method.clone()).uri(uri).body(body).expect("a request from valid parts");
        let headers = req.headers_mut();
        // hyper frames the body itself: with its length when known, else chunked.
        for (name, value) in &parts.headers {
            if ![HOST, CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING].contains(name) && name != SECRET_HEADER {
                headers.append(name, value.clone());
            }
        }
        // hyper sends a GET or HEAD body of unknown length only when told it is chunked.
        if parts.headers.contains_key(TRANSFER_ENCODING) && req.body().size_hint().exact().is_none() {
            req.headers_mut().insert(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        }
        let headers = req.headers_mut();
        if let (Ok(secret), Ok(me)) = (HeaderValue::from_str(signer.secret.as_str()), HeaderValue::from_str(signer.node)) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::RequestBodyError;
    use http_body_util::channel::Channel;

    const PATIENCE: Duration = Duration::from_secs(30);

    /// A body the client sends over 60 s (a part every 10 s), and the try that reads it.
    fn slow_upload() -> (Held, ReqBody, impl std::future::Future<Output = ()>) {
        let (mut sender, body) = Channel::<Bytes, RequestBodyError>::new(1);
        let held = Held::Streamed(Unsent::new(body.boxed()));
        let offered = held.for_try().expect("nothing read yet");
        let client = async move {
            for _ in 0..6 {
                sender.send_data(Bytes::from_static(b"part")).await.expect("the node reads");
                tokio::time::sleep(Duration::from_secs(10)).await;
            }
        };
        (held, offered, client)
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_upload_is_not_counted_against_the_nodes_patience() {
        let (held, offered, client) = slow_upload();
        // The node reads the body as it comes and answers 10 s after its end, 70 s in.
        let node = async move {
            let read = offered.collect().await.expect("whole").to_bytes();
            tokio::time::sleep(Duration::from_secs(10)).await;
            read
        };
        let (answer, ()) = tokio::join!(held.within_patience(PATIENCE, node), client);
        assert_eq!(answer.as_deref(), Some(&b"partpartpartpartpartpart"[..]));
    }

    #[tokio::test(start_paused = true)]
    async fn a_node_silent_after_the_whole_body_gets_its_patience_and_no_more() {
        let (held, offered, client) = slow_upload();
        let started = tokio::time::Instant::now();
        let node = async move {
            offered.collect().await.expect("whole");
            std::future::pending::<()>().await
        };
        let (answer, ()) = tokio::join!(held.within_patience(PATIENCE, node), client);
        assert!(answer.is_none());
        assert_eq!(started.elapsed(), Duration::from_secs(60) + PATIENCE, "upload, then patience");
    }
}
