//! `GET /v1/nodes`: every node that joined, whether it is ready, and what each ready one is
//! running now (asked over the internal channel, briefly: a node that does not answer in time
//! is listed without a count).

use super::Node;
use crate::errors::error_response;
use crate::http::{json, Resp};
use futures_util::future::join_all;
use hyper::StatusCode;
use skiff_api::{NodeState, NodeView};
use skiff_invoker::Invoker;
use skiff_services::SCHEDULER_LEASE;
use std::time::Duration;

const LOAD_WITHIN: Duration = Duration::from_millis(500);

pub(crate) async fn list(node: &Node, invoker: &Invoker) -> Resp {
    let Some(cluster) = &node.cluster else {
        let me = NodeView { info: node.info.clone(), state: NodeState::Ready, in_flight: Some(invoker.in_flight()), scheduler: true };
        return json(StatusCode::OK, &NodeList { nodes: vec![me] });
    };
    let members = match cluster.members.members().await {
        Ok(m) => m,
        Err(e) => return error_response(&e),
    };
    let scheduler = cluster.members.lease_holder(SCHEDULER_LEASE).await.ok().flatten();
    let scheduler = scheduler.as_deref();
    let views = members.into_iter().map(|(info, state)| async move {
        let in_flight = match state {
            NodeState::Lost => None,
            NodeState::Ready if info.name == node.info.name => Some(invoker.in_flight()),
            NodeState::Ready => cluster.peers.load(&info, LOAD_WITHIN).await.ok().map(|l| l.in_flight),
        };
        let scheduler = scheduler == Some(info.name.as_str());
        NodeView { info, state, in_flight, scheduler }
    });
    json(StatusCode::OK, &NodeList { nodes: join_all(views).await })
}

#[derive(serde::Serialize)]
struct NodeList {
    nodes: Vec<NodeView>,
}
