//! `/internal/v1/...`: what nodes ask of each other. Reached only with the cluster secret (the
//! router checks it first).

use super::ClusterGateway;
use crate::body::{read_body, BodyError};
use crate::errors::{reply, AwsError};
use crate::http::{bytes_response, empty, json, Resp};
use crate::route::Internal;
use hyper::{Request, StatusCode};
use skiff_cluster::peers::Load;
use skiff_invoker::Invoker;
use skiff_services::Services;

/// The largest code blob a node accepts from another: a deploy body's limit.
const MAX_BLOB: usize = 96 * 1024 * 1024;

pub(crate) async fn handle(cluster: &ClusterGateway, invoker: &Invoker, services: &Services, route: Internal<'_>, req: Request<crate::http::ReqBody>) -> Resp {
    match route {
        Internal::FunctionLogs { name } => crate::routes::functions::local_logs(invoker, name, req.uri().query()),
        Internal::Load => json(StatusCode::OK, &Load { in_flight: invoker.in_flight(), services: services.proxied_in_flight() }),
        Internal::Invocation { id } => reply(StatusCode::OK, invoker.events().status(id).await),
        Internal::GetBlob { sha256 } if is_sha256(sha256) => match cluster.blobs.get_local(sha256).await {
            Ok(bytes) => bytes_response(StatusCode::OK, "application/octet-stream", bytes),
            Err(e) if e.is_missing_file() => empty(StatusCode::NOT_FOUND),
            Err(e) => AwsError::Service.response(e.to_string()),
        },
        Internal::PutBlob { sha256 } if is_sha256(sha256) => {
            let bytes = match read_body(req.into_body(), MAX_BLOB).await {
                Ok(b) => b,
                Err(BodyError::TooLarge) => return AwsError::RequestTooLarge.response("blob too large"),
                Err(BodyError::Io(e)) => return AwsError::InvalidRequestContent.response(e),
            };
            match cluster.blobs.put_checked(sha256, bytes).await {
                Ok(()) => empty(StatusCode::NO_CONTENT),
                Err(e) => AwsError::InvalidRequestContent.response(e.to_string()),
            }
        }
        Internal::GetBlob { sha256 } | Internal::PutBlob { sha256 } => AwsError::InvalidParameterValue.response(format!("{sha256:?} is not a SHA-256 in hex")),
        _ => unreachable!("copy routes go to the agent"),
    }
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}
