//! The body of a component's response on its way to the client.

use crate::HttpBodyError;
use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// The component's response body, which ends in an error rather than as complete when the
/// function failed: wasmtime ends a body whose store went away without `finish` as if it were
/// whole, and the client must not take a cut body for a whole one.
pub(crate) struct Guarded {
    inner: HyperOutgoingBody,
    /// Set before the instance of a failed call is dropped.
    failed: Arc<AtomicBool>,
}

impl Guarded {
    pub(crate) fn new(inner: HyperOutgoingBody, failed: Arc<AtomicBool>) -> Self {
        Self { inner, failed }
    }
}

impl hyper::body::Body for Guarded {
    type Data = Bytes;
    type Error = HttpBodyError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, HttpBodyError>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(None) if self.failed.load(Ordering::SeqCst) => {
                Poll::Ready(Some(Err(HttpBodyError::Function("the function failed before finishing its body".into()))))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Ready(Some(Ok(frame))) => Poll::Ready(Some(Ok(frame))),
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(HttpBodyError::Function(e.to_string())))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream() && !self.failed.load(Ordering::SeqCst)
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// A body whose frames that were ready at once have been read ahead. When that was the whole
/// body its exact length is known, and hyper sends it with a `Content-Length` in one write
/// rather than as a chunked head, chunk and end, each its own write and wake-up of the client.
pub(crate) struct Primed<B> {
    ready: VecDeque<Frame<Bytes>>,
    /// Data bytes in `ready`.
    ready_bytes: u64,
    /// A failure read ahead, given after the ready frames.
    failure: Option<HttpBodyError>,
    /// What is left to read: `None` once the end was read ahead.
    rest: Option<B>,
}

impl<B: Body<Data = Bytes, Error = HttpBodyError> + Unpin> Primed<B> {
    /// Reads the frames of `body` that are ready now, up to `budget` data bytes.
    pub(crate) fn read_ahead(mut body: B, budget: usize) -> Self {
        let mut primed = Self { ready: VecDeque::new(), ready_bytes: 0, failure: None, rest: None };
        let mut cx = Context::from_waker(std::task::Waker::noop());
        while primed.ready_bytes < budget as u64 {
            match Pin::new(&mut body).poll_frame(&mut cx) {
                Poll::Ready(Some(Ok(frame))) => primed.push(frame),
                Poll::Ready(Some(Err(e))) => {
                    primed.failure = Some(e);
                    return primed;
                }
                Poll::Ready(None) => return primed,
                Poll::Pending => break,
            }
        }
        primed.rest = Some(body);
        primed
    }

    /// Whether the whole body (its end included, no failure) was read ahead.
    pub(crate) fn is_whole(&self) -> bool {
        self.rest.is_none() && self.failure.is_none()
    }

    fn push(&mut self, frame: Frame<Bytes>) {
        self.ready_bytes += frame.data_ref().map_or(0, |d| d.len() as u64);
        self.ready.push_back(frame);
    }
}

impl<B: Body<Data = Bytes, Error = HttpBodyError> + Unpin> Body for Primed<B> {
    type Data = Bytes;
    type Error = HttpBodyError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, HttpBodyError>>> {
        let this = &mut *self;
        if let Some(frame) = this.ready.pop_front() {
            this.ready_bytes -= frame.data_ref().map_or(0, |d| d.len() as u64);
            return Poll::Ready(Some(Ok(frame)));
        }
        if let Some(failure) = this.failure.take() {
            return Poll::Ready(Some(Err(failure)));
        }
        match &mut this.rest {
            Some(rest) => Pin::new(rest).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ready.is_empty() && self.failure.is_none() && self.rest.as_ref().is_none_or(|r| r.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        let whole = self.is_whole() && self.ready.iter().all(Frame::is_data);
        match &self.rest {
            _ if whole => SizeHint::with_exact(self.ready_bytes),
            Some(rest) => {
                let mut hint = SizeHint::new();
                hint.set_lower(rest.size_hint().lower() + self.ready_bytes);
                hint
            }
            None => SizeHint::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, StreamBody};

    type Item = Result<Frame<Bytes>, HttpBodyError>;

    fn data(text: &'static str) -> Item {
        Ok(Frame::data(Bytes::from_static(text.as_bytes())))
    }

    #[tokio::test]
    async fn a_body_ready_whole_is_read_ahead_with_its_exact_length() {
        let body = StreamBody::new(futures_util::stream::iter(vec![data("ab"), data("cde")]));
        let primed = Primed::read_ahead(body, 1024);
        assert_eq!((primed.size_hint().exact(), primed.is_end_stream(), primed.is_whole()), (Some(5), false, true));
        assert_eq!(primed.collect().await.unwrap().to_bytes(), "abcde");
    }

    #[tokio::test]
    async fn a_body_still_being_written_keeps_streaming_after_its_ready_part() {
        let (mut sender, body) = http_body_util::channel::Channel::<Bytes, HttpBodyError>::new(4);
        sender.send_data(Bytes::from_static(b"first ")).await.unwrap();
        let primed = Primed::read_ahead(body, 1024);
        assert_eq!((primed.size_hint().exact(), primed.is_whole()), (None, false), "the length is not known yet");
        sender.send_data(Bytes::from_static(b"second")).await.unwrap();
        drop(sender);
        assert_eq!(primed.collect().await.unwrap().to_bytes(), "first second");
    }

    #[tokio::test]
    async fn a_failure_read_ahead_comes_after_the_data_before_it() {
        let failed: Item = Err(HttpBodyError::Function("cut".into()));
        let body = StreamBody::new(futures_util::stream::iter(vec![data("ab"), failed]));
        let mut primed = Primed::read_ahead(body, 1024);
        assert_eq!(primed.size_hint().exact(), None);
        assert!(primed.frame().await.unwrap().unwrap().is_data());
        assert!(matches!(primed.frame().await, Some(Err(HttpBodyError::Function(_)))));
    }

    #[tokio::test]
    async fn reading_ahead_stops_at_its_budget() {
        let body = StreamBody::new(futures_util::stream::iter(vec![data("abcd"), data("efgh"), data("ij")]));
        let primed = Primed::read_ahead(body, 4);
        assert_eq!((primed.ready.len(), primed.rest.is_some()), (1, true));
        assert_eq!(primed.collect().await.unwrap().to_bytes(), "abcdefghij");
    }
}
