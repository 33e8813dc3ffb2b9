//! `POST /2015-03-31/functions/{name}/invocations`: Lambda's Invoke API, as AWS SDKs and the AWS
//! CLI send it.

use crate::body::{read_body, BodyError};
use crate::errors::{error_response, AwsError};
use crate::http::{empty, full, Resp};
use base64::Engine as _;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use skiff_invoker::{InvokeResult, Invoker};
use skiff_workers::{Outcome, MAX_REQUEST_BYTES};

/// Lambda's synchronous request payload limit (6 MB): the workers' own request cap, so a body
/// the gateway admits is never one a `wasi:http` component's stream would then refuse.
pub(crate) const MAX_SYNC_PAYLOAD: usize = MAX_REQUEST_BYTES;
/// `X-Amz-Log-Result` carries at most the last 4 KB of the log.
const TAIL_LOG_BYTES: usize = 4096;

/// `B`: the body as the client sent it, or already read when the call was walked to this node.
pub(crate) async fn invoke<B>(invoker: &Invoker, function: &str, req: Request<B>) -> Resp
where
    B: hyper::body::Body<Data = bytes::Bytes>,
    B::Error: Into<crate::http::BoxError>,
{
    let reference = match super::lambda_api::function_ref(function, req.uri().query()) {
        Ok(reference) => reference,
        Err(e) => return AwsError::InvalidParameterValue.response(e.to_string()),
    };
    let name = reference.name.as_str();
    let header = |n: &str| header_of(req.headers(), n);
    let invocation_type = header("x-amz-invocation-type").unwrap_or_else(|| "RequestResponse".into());
    let tail = header("x-amz-log-type").is_some_and(|t| t.eq_ignore_ascii_case("Tail"));
    let callback = header("x-callback-url");

    // An alias is resolved once, here: a weighted alias picks the version this call runs.
    let version = match invoker.resolve(name, reference.qualifier.as_ref()) {
        Ok(version) => version,
        Err(e) => return error_response(&e),
    };
    let payload = match read_body(req.into_body(), MAX_SYNC_PAYLOAD).await {
        Ok(body) => body,
        Err(BodyError::TooLarge) => {
            return AwsError::RequestTooLarge.response(format!("Request must be smaller than {MAX_SYNC_PAYLOAD} bytes for the InvokeFunction operation"))
        }
        Err(BodyError::Io(e)) => return AwsError::InvalidRequestContent.response(e),
    };
    if let Err(e) = check_json(&payload) {
        return AwsError::InvalidRequestContent.response(format!("Could not parse request body into json: {e}"));
    }
    match invocation_type.as_str() {
        "RequestResponse" => {}
        "DryRun" => return empty(StatusCode::NO_CONTENT),
        "Event" => {
            return match invoker.events().enqueue(name, version, payload, callback).await {
                Ok(request_id) => {
                    let mut resp = empty(StatusCode::ACCEPTED);
                    insert_str(resp.headers_mut(), "x-amzn-requestid", &request_id);
                    resp
                }
                Err(e) => error_response(&e),
            };
        }
        other => {
            return AwsError::InvalidParameterValue.response(format!("invalid X-Amz-Invocation-Type {other:?}: expected RequestResponse, Event or DryRun"))
        }
    }
    match invoker.runner().invoke(name, version, payload).await {
        Ok(result) => invoke_response(&result, tail),
        Err(e) => error_response(&e),
    }
}

/// The function a Lambda Invoke path names (`name`, `name:qualifier` or an ARN).
pub(crate) fn function_name(raw: &str) -> Option<String> {
    super::lambda_api::function_ref(raw, None).ok().map(|r| r.name)
}

/// Whether the Invoke asks for a synchronous run (the only kind forwarded to another node).
pub(crate) fn is_request_response(headers: &hyper::HeaderMap) -> bool {
    headers.get("x-amz-invocation-type").is_none_or(|t| t.as_bytes() == b"RequestResponse")
}

fn header_of(headers: &hyper::HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// An empty payload is allowed (the function gets empty stdin); anything else must be JSON.
pub(crate) fn check_json(payload: &[u8]) -> Result<(), serde_json::Error> {
    if payload.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    serde_json::from_slice::<serde::de::IgnoredAny>(payload).map(|_| ())
}

fn invoke_response(result: &InvokeResult, tail: bool) -> Resp {
    let (body, function_error) = match &result.execution.outcome {
        Outcome::Success(out) => (out.clone(), None),
        Outcome::Error(e) => (e.body(), Some("Unhandled")),
    };
    let mut resp = Response::new(full(body));
    *resp.status_mut() = StatusCode::OK;
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    insert_str(h, "x-amz-executed-version", &result.version.to_string());
    insert_str(h, "x-amzn-requestid", &result.request_id);
    if let Some(kind) = function_error {
        h.insert("x-amz-function-error", HeaderValue::from_static(kind));
    }
    if tail {
        let log = result.log.as_bytes();
        let tail = &log[log.len().saturating_sub(TAIL_LOG_BYTES)..];
        insert_str(h, "x-amz-log-result", &base64::engine::general_purpose::STANDARD.encode(tail));
    }
    if let Some(init) = result.execution.init_duration {
        insert_str(h, "x-skiff-init-duration-ms", &format!("{:.3}", init.as_secs_f64() * 1000.0));
    }
    resp
}

pub(crate) fn insert_str(h: &mut hyper::HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_references_are_percent_decoded() {
        use skiff_api::{Qualifier, VersionRef};
        let r = |raw, query| super::super::lambda_api::function_ref(raw, query);
        assert_eq!(r("echo", None).unwrap().qualifier, None);
        let arn = r("arn%3Aaws%3Alambda%3Aus-east-1%3A123%3Afunction%3Aecho%3A3", None).unwrap();
        assert_eq!((arn.name.as_str(), arn.qualifier), ("echo", Some(Qualifier::Version(VersionRef::Published(3)))));
        assert_eq!(r("echo", Some("Qualifier=%24LATEST")).unwrap().version(), Some(VersionRef::Latest));
        assert!(r("bad%20name", None).is_err());
        assert_eq!(function_name("echo%3Alive").as_deref(), Some("echo"));
    }

    #[test]
    fn payload_must_be_json_or_empty() {
        assert!(check_json(b"").is_ok());
        assert!(check_json(b" \n").is_ok());
        assert!(check_json(br#"{"a":1}"#).is_ok());
        assert!(check_json(b"\"str\"").is_ok());
        assert!(check_json(b"{nope").is_err());
    }
}
