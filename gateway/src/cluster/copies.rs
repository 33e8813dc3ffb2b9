//! `/internal/v1/copies...` and `/internal/v1/tasks...`: this node's agent, as the scheduler on
//! another node reaches it.
//! Each handler hands the order to the agent (which checks its fence) and answers with JSON.

use crate::body::{read_body, BodyError};
use crate::errors::{reply, AwsError};
use crate::http::{json, query_param, Resp};
use crate::route::Internal;
use hyper::{Request, StatusCode};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use skiff_services::fleet::{CopyHost, CopyOrder, ReapOrder, StopOrder, TaskOrder};
use skiff_services::Services;
use std::time::Duration;

/// An order's largest body (a spec with its environment).
const MAX_ORDER: usize = 1024 * 1024;
/// How long a "has it stopped?" question is held open before answering "not yet".
pub(crate) const STOPPED_POLL: Duration = Duration::from_secs(20);

/// The answer to `GET .../copies/{id}/stopped`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Stopped {
    pub(crate) stopped: bool,
}

/// The answer to `POST .../tasks`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct StartedTask {
    pub(crate) container_id: String,
}

/// The answer to `GET .../copies/{id}/logs`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct CopyLogs {
    pub(crate) logs: String,
}

pub(crate) async fn handle(services: &Services, route: Internal<'_>, req: Request<crate::http::ReqBody>) -> Resp {
    let agent = match services.agent() {
        Ok(agent) => agent,
        Err(e) => return reply::<(), _>(StatusCode::OK, Err(e)),
    };
    let query = req.uri().query().map(str::to_owned);
    match route {
        Internal::StartCopy => match order::<CopyOrder>(req).await {
            Ok(order) => reply(StatusCode::OK, agent.start(&order).await),
            Err(resp) => resp,
        },
        Internal::StopCopy { id } => match order::<StopOrder>(req).await {
            Ok(order) if order.id == id => reply(StatusCode::OK, agent.stop(&order).await.map(|()| serde_json::json!({}))),
            Ok(_) => AwsError::InvalidParameterValue.response("the order names another copy than the path"),
            Err(resp) => resp,
        },
        Internal::ListCopies => match query_param(query.as_deref(), "service") {
            Some(service) => reply(StatusCode::OK, agent.list(&service).await),
            None => AwsError::InvalidParameterValue.response("service is required"),
        },
        Internal::CopyStopped { id } => {
            let stopped = tokio::time::timeout(STOPPED_POLL, agent.wait_stopped(id)).await.is_ok();
            json(StatusCode::OK, &Stopped { stopped })
        }
        Internal::StartTask => match order::<TaskOrder>(req).await {
            Ok(order) => reply(StatusCode::OK, agent.run_task(&order).await.map(|container_id| StartedTask { container_id })),
            Err(resp) => resp,
        },
        Internal::ReapTask => match order::<ReapOrder>(req).await {
            Ok(order) => reply(StatusCode::OK, agent.reap_task(&order).await),
            Err(resp) => resp,
        },
        Internal::CopyLogs { id } => {
            let tail = query_param(query.as_deref(), "tail").and_then(|t| t.parse().ok()).unwrap_or(100);
            reply(StatusCode::OK, agent.logs(id, tail).await.map(|logs| CopyLogs { logs }))
        }
        _ => unreachable!("only copy routes are handed here"),
    }
}

async fn order<T: DeserializeOwned>(req: Request<crate::http::ReqBody>) -> Result<T, Resp> {
    let bytes = match read_body(req.into_body(), MAX_ORDER).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => return Err(AwsError::RequestTooLarge.response("order too large")),
        Err(BodyError::Io(e)) => return Err(AwsError::InvalidRequestContent.response(e)),
    };
    serde_json::from_slice(&bytes).map_err(|e| AwsError::InvalidRequestContent.response(format!("order: {e}")))
}
