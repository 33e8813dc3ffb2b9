//! Reading request bodies under a size limit, and JSON bodies into typed requests.

use crate::errors::AwsError;
use crate::http::Resp;
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};

/// Why a request body could not be read.
pub(crate) enum BodyError {
    TooLarge,
    Io(String),
}

/// Reads the whole body, refusing more than `limit` bytes without buffering past it.
pub(crate) async fn read_body<B>(body: B, limit: usize) -> Result<Bytes, BodyError>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: Into<crate::http::BoxError>,
{
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(BodyError::TooLarge),
        Err(e) => Err(BodyError::Io(e.to_string())),
    }
}

/// Reads a JSON body of type `T` of at most `limit` bytes, or answers why not; `what` names it
/// in the error ("trigger request" → "invalid trigger request: ...").
pub(crate) async fn read_json<T: serde::de::DeserializeOwned>(
    req: hyper::Request<crate::http::ReqBody>,
    limit: usize,
    what: &str,
) -> Result<T, Resp> {
    let bytes = match read_body(req.into_body(), limit).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => return Err(AwsError::RequestTooLarge.response(format!("{what} too large"))),
        Err(BodyError::Io(e)) => return Err(AwsError::InvalidRequestContent.response(e)),
    };
    // An SDK may send no body at all for an operation whose fields are all optional.
    let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { &bytes };
    serde_json::from_slice(text).map_err(|e| AwsError::InvalidRequestContent.response(format!("invalid {what}: {e}")))
}

