//! `GET /v1/functions/{name}/logs` on a cluster node: a function's calls run on whichever node
//! took them (mostly its home), and each node keeps the log entries of what it ran, so every
//! ready node is asked. Recent entries are merged by time; a followed stream interleaves whole
//! lines from this node's stream and every other node's as they arrive.

use super::ClusterGateway;
use crate::errors::error_response;
use crate::http::{json, BoxError, Resp};
use crate::routes::counts::LOG_LIMIT;
use crate::routes::flags::FOLLOW;
use crate::routes::functions::followed_logs;
use bytes::Bytes;
use futures_util::future::join_all;
use http_body_util::BodyExt;
use hyper::body::Frame;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use skiff_api::{LogEntry, NodeInfo};
use skiff_invoker::Invoker;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::mpsc;

const ASK_WITHIN: Duration = Duration::from_secs(2);

pub(crate) async fn gather(cluster: &ClusterGateway, me: &str, invoker: &Invoker, name: &str, query: Option<&str>) -> Resp {
    let limit = match LOG_LIMIT.read(query) {
        Ok(limit) => limit,
        Err(refused) => return refused,
    };
    let follow = match FOLLOW.read(query) {
        Ok(follow) => follow,
        Err(refused) => return refused,
    };
    let others: Vec<NodeInfo> = cluster.members.ready().iter().filter(|n| n.name != me).cloned().collect();
    if follow {
        return follow_all(cluster, others, followed_logs(invoker, name, limit), name, limit).await;
    }
    let mine = match invoker.recent_logs(name, limit) {
        Ok(entries) => entries,
        Err(e) => return error_response(&e),
    };
    let asked = others.iter().map(|n| cluster.peers.recent_logs(n, name, limit, ASK_WITHIN));
    let mut entries: Vec<LogEntry> = mine.iter().map(|e| (**e).clone()).collect();
    entries.extend(join_all(asked).await.into_iter().filter_map(Result::ok).flatten());
    entries.sort_by_key(|e| e.timestamp_ms);
    let entries = entries.split_off(entries.len().saturating_sub(limit));
    json(StatusCode::OK, &serde_json::json!({ "entries": entries }))
}

/// One newline-delimited stream from this node's `local` stream and every other node's. It is
/// answered only once every node that answers within [`ASK_WITHIN`] is subscribed, so a call
/// made after the answer arrives is never missing from the stream.
async fn follow_all(cluster: &ClusterGateway, others: Vec<NodeInfo>, local: Resp, name: &str, limit: usize) -> Resp {
    let (lines, merged) = mpsc::channel::<Bytes>(64);
    let mut local_body = local.into_body();
    let local_lines = lines.clone();
    tokio::spawn(async move {
        loop {
            let frame = tokio::select! {
                frame = local_body.frame() => frame,
                _ = local_lines.closed() => return,
            };
            let Some(Ok(frame)) = frame else { return };
            if let Ok(data) = frame.into_data() {
                if local_lines.send(data).await.is_err() {
                    return;
                }
            }
        }
    });
    let subscribing = others.iter().map(|node| tokio::time::timeout(ASK_WITHIN, cluster.peers.follow_logs(node, name, limit)));
    for (node, subscribed) in others.iter().zip(join_all(subscribing).await) {
        match subscribed {
            Ok(Ok(stream)) => {
                let lines = lines.clone();
                tokio::spawn(async move {
                    if let Err(e) = stream.forward(lines).await {
                        tracing::debug!("log stream from a peer ended: {e}");
                    }
                });
            }
            Ok(Err(e)) => tracing::debug!("not following {name}'s logs on {}: {e}", node.name),
            Err(_) => tracing::debug!("not following {name}'s logs on {}: no answer within {ASK_WITHIN:?}", node.name),
        }
    }
    drop(lines);
    let mut resp = Response::new(Lines(merged).boxed());
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/x-ndjson"));
    resp
}

/// The merged lines as a response body. When the client goes away hyper drops it, and with it
/// the receiver, which ends every task feeding it (they wait on `closed()`).
struct Lines(mpsc::Receiver<Bytes>);

impl hyper::body::Body for Lines {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.0.poll_recv(cx).map(|line| line.map(|l| Ok(Frame::data(l))))
    }
}
