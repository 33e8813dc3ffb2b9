//! Service errors in AWS's JSON error convention: the `x-amzn-ErrorType` header plus a body with
//! `__type` and `message`, which is what AWS SDKs parse to raise the matching exception.

use crate::http::{full, Resp};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use skiff_api::error::{ErrorKind, Kinded};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AwsError {
    ResourceNotFound,
    TooManyRequests,
    RequestTooLarge,
    InvalidRequestContent,
    InvalidParameterValue,
    /// The thing changed since it was read (a concurrent update): read again and retry.
    ResourceConflict,
    /// An update named a `RevisionId` that is no longer current.
    PreconditionFailed,
    Unauthorized,
    /// A SigV4 signature that does not hold (wrong secret, altered request, expired date).
    InvalidSignature,
    /// An access key id nobody issued.
    UnrecognizedClient,
    /// The key's policy does not allow the action.
    AccessDenied,
    /// A control request whose body is not JSON.
    UnsupportedMediaType,
    /// The path exists, but not with this method.
    MethodNotAllowed,
    Service,
    /// A dependency (the message broker) is down: retry later. Same type name as `Service`,
    /// which is what SDKs map to a retryable ServiceException.
    Unavailable,
    /// A service copy could not be reached or broke off its answer.
    BadGateway,
    /// A service copy did not start answering within the service's request timeout.
    GatewayTimeout,
}

impl AwsError {
    fn parts(self) -> (StatusCode, &'static str) {
        match self {
            AwsError::ResourceNotFound => (StatusCode::NOT_FOUND, "ResourceNotFoundException"),
            AwsError::TooManyRequests => (StatusCode::TOO_MANY_REQUESTS, "TooManyRequestsException"),
            AwsError::RequestTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "RequestTooLargeException"),
            AwsError::InvalidRequestContent => (StatusCode::BAD_REQUEST, "InvalidRequestContentException"),
            AwsError::InvalidParameterValue => (StatusCode::BAD_REQUEST, "InvalidParameterValueException"),
            AwsError::ResourceConflict => (StatusCode::CONFLICT, "ResourceConflictException"),
            AwsError::PreconditionFailed => (StatusCode::PRECONDITION_FAILED, "PreconditionFailedException"),
            AwsError::Unauthorized => (StatusCode::UNAUTHORIZED, "UnrecognizedClientException"),
            AwsError::InvalidSignature => (StatusCode::FORBIDDEN, "InvalidSignatureException"),
            AwsError::UnrecognizedClient => (StatusCode::FORBIDDEN, "UnrecognizedClientException"),
            AwsError::AccessDenied => (StatusCode::FORBIDDEN, "AccessDeniedException"),
            AwsError::UnsupportedMediaType => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "UnsupportedMediaTypeException"),
            AwsError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowedException"),
            AwsError::Service => (StatusCode::INTERNAL_SERVER_ERROR, "ServiceException"),
            AwsError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "ServiceException"),
            AwsError::BadGateway => (StatusCode::BAD_GATEWAY, "ServiceException"),
            AwsError::GatewayTimeout => (StatusCode::GATEWAY_TIMEOUT, "ServiceException"),
        }
    }

    pub(crate) fn response(self, message: impl Into<String>) -> Resp {
        self.response_with(message, None)
    }

    /// `reason` is Lambda's extra `Reason` field (used on throttles).
    pub(crate) fn response_with(self, message: impl Into<String>, reason: Option<&str>) -> Resp {
        let (status, type_name) = self.parts();
        let mut body = serde_json::json!({ "__type": type_name, "message": message.into() });
        if let Some(reason) = reason {
            body["Reason"] = reason.into();
            body["Type"] = "User".into();
        }
        let mut resp = Response::new(full(serde_json::to_vec(&body).expect("json")));
        *resp.status_mut() = status;
        let headers = resp.headers_mut();
        headers.insert("x-amzn-ErrorType", HeaderValue::from_static(type_name));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        resp
    }
}

/// Maps a failure onto the AWS error a Lambda client expects, by its kind: the one mapping of
/// every error the gateway answers with.
pub(crate) fn error_response<E: Kinded + std::fmt::Display>(e: &E) -> Resp {
    let message = e.to_string();
    match e.kind() {
        ErrorKind::FunctionNotFound | ErrorKind::NotFound => AwsError::ResourceNotFound.response(message),
        ErrorKind::TooLarge => AwsError::RequestTooLarge.response(message),
        ErrorKind::Invalid => AwsError::InvalidParameterValue.response(message),
        ErrorKind::Conflict | ErrorKind::Exists => AwsError::ResourceConflict.response(message),
        ErrorKind::PreconditionFailed => AwsError::PreconditionFailed.response(message),
        ErrorKind::Throttled(scope) => AwsError::TooManyRequests.response_with("Rate Exceeded.", Some(scope.reason())),
        ErrorKind::Unavailable => {
            tracing::warn!(error = %message, "dependency unavailable");
            AwsError::Unavailable.response(message)
        }
        ErrorKind::Internal => {
            tracing::error!(error = %message, "service error");
            AwsError::Service.response(message)
        }
    }
}

/// `value` as JSON with `status`, or the error in AWS's shape.
pub(crate) fn reply<T: serde::Serialize, E: Kinded + std::fmt::Display>(status: hyper::StatusCode, result: Result<T, E>) -> Resp {
    match result {
        Ok(value) => crate::http::json(status, &value),
        Err(e) => error_response(&e),
    }
}
