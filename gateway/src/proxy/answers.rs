//! The service proxy's own answers, the same on both of its paths (hyper's and `h1`).

use crate::errors::AwsError;
use crate::http::Resp;
use std::time::Duration;

/// 404: no service of that name.
pub(crate) fn unknown_service(name: &str) -> Resp {
    AwsError::ResourceNotFound.response(format!("Service not found: {name}"))
}

/// 503: the service has no copy in rotation.
pub(crate) fn no_healthy_copy(name: &str) -> Resp {
    AwsError::Unavailable.response(format!("service {name} has no healthy copy"))
}

/// 504: the copy did not start answering within the service's request timeout.
pub(crate) fn timed_out(name: &str, timeout: Duration) -> Resp {
    AwsError::GatewayTimeout.response(format!("service {name} did not answer within {} ms", timeout.as_millis()))
}

/// 502: every copy tried refused the connection; `why` is the last refusal.
pub(crate) fn no_copy_accepted(name: &str, why: Option<std::io::Error>) -> Resp {
    let why = why.map(|e| e.to_string()).unwrap_or_default();
    AwsError::BadGateway.response(format!("service {name}: no copy accepted the connection ({why})"))
}
