//! `GET /v1/invocations/{id}` on a cluster node. An asynchronous invocation's record is kept
//! where things happened to it: `queued` on the node that accepted the event, `running` and the
//! outcome on the node that ran each attempt (any node consumes the shared queue). So every
//! ready node is asked, and the most advanced record answers; a node that does not answer in
//! time is left out.

use super::ClusterGateway;
use crate::errors::error_response;
use crate::http::{json, Resp};
use futures_util::future::join_all;
use hyper::StatusCode;
use skiff_api::{InvocationState, InvocationStatus};
use skiff_invoker::Invoker;
use std::time::Duration;

const ASK_WITHIN: Duration = Duration::from_secs(1);

pub(crate) async fn gather(cluster: &ClusterGateway, me: &str, invoker: &Invoker, id: &str) -> Resp {
    let local = invoker.events().status(id).await;
    let ready = cluster.members.ready();
    let asked = ready.iter().filter(|n| n.name != me).map(|n| cluster.peers.invocation(n, id, ASK_WITHIN));
    let remote = join_all(asked).await.into_iter().filter_map(|r| r.ok().flatten());
    let best = local.as_ref().ok().cloned().into_iter().chain(remote).max_by_key(progress);
    match (best, local) {
        (Some(status), _) => json(StatusCode::OK, &status),
        (None, Err(e)) => error_response(&e),
        (None, Ok(status)) => json(StatusCode::OK, &status),
    }
}

/// How far a record has got: later attempts first, then the state within an attempt.
fn progress(status: &InvocationStatus) -> (u32, u32, u8, u64) {
    let state = match status.state {
        InvocationState::Queued => 0,
        InvocationState::Running => 1,
        InvocationState::Succeeded | InvocationState::Failed => 2,
    };
    (status.redrives, status.attempts, state, status.finished_ms.or(status.started_ms).unwrap_or(status.accepted_ms))
}
