//! Reading request bodies under a size limit, and JSON bodies into typed requests.

use crate::errors::AwsError;
use crate::http::Resp;
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use std::time::Duration;

/// Why a request body could not be read.
pub(crate) enum BodyError {
    TooLarge,
    Io(String),
}

/// How long a whole request body may take to arrive: a client trickling a body holds a
/// connection and a buffer, so it is cut off (72 MiB, the largest body, at 1 MiB/s fits).
pub(crate) const BODY_READ_TIMEOUT: Duration = Duration::from_secs(120);

/// Reads the whole body, refusing more than `limit` bytes without buffering past it, and a body
/// that takes longer than [`BODY_READ_TIMEOUT`].
pub(crate) async fn read_body<B>(body: B, limit: usize) -> Result<Bytes, BodyError>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: Into<crate::http::BoxError>,
{
    match tokio::time::timeout(BODY_READ_TIMEOUT, Limited::new(body, limit).collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(BodyError::TooLarge),
        Ok(Err(e)) => Err(BodyError::Io(e.to_string())),
        Err(_) => Err(BodyError::Io(format!("the request body did not arrive within {} s", BODY_READ_TIMEOUT.as_secs()))),
    }
}

/// Reads a JSON body of type `T` of at most `limit` bytes, or answers why not; `what` names it
/// in the error ("trigger request" → "invalid trigger request: ...").
pub(crate) async fn read_json<T: serde::de::DeserializeOwned>(req: hyper::Request<crate::http::ReqBody>, limit: usize, what: &str) -> Result<T, Resp> {
    let bytes = match read_body(req.into_body(), limit).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => return Err(AwsError::RequestTooLarge.response(format!("{what} too large"))),
        Err(BodyError::Io(e)) => return Err(AwsError::InvalidRequestContent.response(e)),
    };
    // An SDK may send no body at all for an operation whose fields are all optional.
    let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { &bytes };
    if !is_object_text(text) {
        return Err(AwsError::InvalidRequestContent.response(format!("invalid {what}: the body must be a JSON object")));
    }
    crate::strict::from_slice(text).map_err(|e| AwsError::InvalidRequestContent.response(format!("invalid {what}: {e}")))
}

/// Whether JSON `text` is an object (as far as its first character says; the parse checks the
/// rest). Every request document is one; [`crate::strict`] holds the objects inside it to the
/// same rule.
fn is_object_text(text: &[u8]) -> bool {
    text.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_object_is_a_request_document() {
        assert!(is_object_text(b" \n{\"a\": 1}"));
        for text in [&b"[null, null]"[..], b"null", b"\"{}\"", b"7", b"  [{}]"] {
            assert!(!is_object_text(text), "{}", String::from_utf8_lossy(text));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_never_ends_is_cut_off() {
        let (_sender, body) = http_body_util::channel::Channel::<Bytes, std::convert::Infallible>::new(1);
        let started = tokio::time::Instant::now();
        let read = read_body(body, 1024).await;
        assert!(matches!(read, Err(BodyError::Io(ref e)) if e.contains("did not arrive")));
        assert_eq!(started.elapsed().as_secs(), BODY_READ_TIMEOUT.as_secs());
    }
}
