//! An HTTP request handed to a function as it is (function URLs to `wasi:http` components):
//! the request body streams in as the client sends it, and the response streams out as the
//! function writes it, each bounded in size.

use crate::types::FunctionError;
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use hyper::body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll};
use tokio::sync::oneshot;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A body on its way to or from a function.
pub type HttpBody = BoxBody<Bytes, HttpBodyError>;

/// Why a body streamed to or from a function stopped before its end.
#[derive(Debug, thiserror::Error)]
pub enum HttpBodyError {
    #[error("the client's body failed: {0}")]
    Client(#[source] BoxError),
    #[error("the body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    /// The function's side of the body failed (it trapped, timed out or reported an error code
    /// while writing).
    #[error("the function's body failed: {0}")]
    Function(String),
}

/// One HTTP call of a function: the request, and where its answer goes as soon as the function
/// gives one (the execution itself ends later, once the response body is through).
pub struct HttpCall {
    pub request_id: String,
    /// Its URI is absolute (`http://HOST/PATH?QUERY`): the path is the function's own, without
    /// any route prefix.
    pub request: hyper::Request<HttpBody>,
    pub respond: oneshot::Sender<HttpAnswer>,
}

/// What the caller of an [`HttpCall`] gets back.
pub enum HttpAnswer {
    /// The function's response; its body streams while the function still runs.
    Response(hyper::Response<HttpBody>),
    /// The function ended without a response: the failure as Lambda reports it.
    Failed(FunctionError),
}

/// How a streamed body ended, as seen by the side that produced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyEnd {
    /// Every byte was taken.
    Complete,
    /// The body passed its limit and was cut there.
    TooLarge,
    /// The producer failed mid-body.
    Failed(String),
    /// The consumer went away before the end (the client disconnected).
    Abandoned,
}

/// A body cut off after `limit` bytes (an error frame, so the reader never takes it for a whole
/// body), that reports how it ended once it ends or is dropped.
pub struct Capped<B> {
    /// Behind a lock only to make the body `Sync` (which response bodies must be) when `B` is
    /// merely `Send`: polling takes it through `&mut`, without locking.
    inner: Mutex<B>,
    seen: usize,
    limit: usize,
    end: Option<oneshot::Sender<BodyEnd>>,
}

impl<B> Capped<B> {
    pub fn new(inner: B, limit: usize) -> Self {
        Self { inner: Mutex::new(inner), seen: 0, limit, end: None }
    }

    /// Like [`Capped::new`], with the receiver told how the body ended.
    pub fn watched(inner: B, limit: usize) -> (Self, oneshot::Receiver<BodyEnd>) {
        let (sender, receiver) = oneshot::channel();
        (Self { inner: Mutex::new(inner), seen: 0, limit, end: Some(sender) }, receiver)
    }

    fn finish(&mut self, how: BodyEnd) {
        if let Some(end) = self.end.take() {
            let _ = end.send(how);
        }
    }
}

impl<B> Body for Capped<B>
where
    B: Body<Data = Bytes, Error = HttpBodyError> + Unpin,
{
    type Data = Bytes;
    type Error = HttpBodyError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, HttpBodyError>>> {
        let this = &mut *self;
        if this.seen > this.limit {
            return Poll::Ready(None);
        }
        let inner = this.inner.get_mut().unwrap_or_else(PoisonError::into_inner);
        match Pin::new(&mut *inner).poll_frame(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => {
                this.finish(BodyEnd::Complete);
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => {
                this.finish(BodyEnd::Failed(e.to_string()));
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(Some(Ok(frame))) => {
                this.seen += frame.data_ref().map_or(0, Bytes::len);
                if this.seen > this.limit {
                    this.finish(BodyEnd::TooLarge);
                    return Poll::Ready(Some(Err(HttpBodyError::TooLarge { limit: this.limit })));
                }
                // A reader may stop polling once `is_end_stream` says the body is through.
                if inner.is_end_stream() {
                    this.finish(BodyEnd::Complete);
                }
                Poll::Ready(Some(Ok(frame)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.seen > self.limit || self.inner.lock().unwrap_or_else(PoisonError::into_inner).is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner).size_hint()
    }
}

impl<B> Drop for Capped<B> {
    fn drop(&mut self) {
        // Dropped before its end was seen: the reader went away.
        self.finish(BodyEnd::Abandoned);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Full, StreamBody};

    fn chunks(parts: &[&'static str]) -> impl Body<Data = Bytes, Error = HttpBodyError> + Unpin {
        let frames: Vec<Result<Frame<Bytes>, HttpBodyError>> = parts.iter().map(|p| Ok(Frame::data(Bytes::from_static(p.as_bytes())))).collect();
        StreamBody::new(futures_util::stream::iter(frames))
    }

    #[tokio::test]
    async fn a_body_within_its_limit_passes_whole_and_reports_complete() {
        let (body, end) = Capped::watched(chunks(&["ab", "cd"]), 4);
        assert_eq!(body.collect().await.unwrap().to_bytes(), "abcd");
        assert_eq!(end.await.unwrap(), BodyEnd::Complete);
    }

    #[tokio::test]
    async fn a_body_over_its_limit_ends_in_an_error() {
        let (body, end) = Capped::watched(chunks(&["ab", "cde", "f"]), 4);
        assert!(matches!(body.collect().await, Err(HttpBodyError::TooLarge { limit: 4 })));
        assert_eq!(end.await.unwrap(), BodyEnd::TooLarge);
    }

    #[tokio::test]
    async fn a_body_dropped_before_its_end_is_abandoned() {
        let (mut body, end) = Capped::watched(chunks(&["ab", "cd"]), 4);
        body.frame().await.unwrap().unwrap();
        drop(body);
        assert_eq!(end.await.unwrap(), BodyEnd::Abandoned);
        let (body, end) = Capped::watched(Full::new(Bytes::from_static(b"x")).map_err(|never| match never {}), 1);
        assert_eq!(body.collect().await.unwrap().to_bytes(), "x");
        assert_eq!(end.await.unwrap(), BodyEnd::Complete);
    }
}
