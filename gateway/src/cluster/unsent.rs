//! A streamed request body that a walk over the nodes can still hand to the next node: it goes
//! to the first node that begins reading it, and until then it stays here.
//!
//! hyper reads a request body only once its connection is open and the head written, so a node
//! that could not be reached never took a byte, and the body is whole for the next one. A node
//! that took any of it has the call: the walk's safety rule makes its answer final.

use crate::http::{ReqBody, RequestBodyError};
use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

/// The body, until a node begins reading it.
pub(crate) struct Unsent {
    slot: Arc<Mutex<Option<ReqBody>>>,
    hint: SizeHint,
    empty: bool,
}

impl Unsent {
    pub(crate) fn new(body: ReqBody) -> Self {
        let (hint, empty) = (body.size_hint(), body.is_end_stream());
        Self { slot: Arc::new(Mutex::new(Some(body))), hint, empty }
    }

    /// The body for one try: it takes the body from here when first read.
    pub(crate) fn offer(&self) -> Offered {
        Offered { slot: self.slot.clone(), body: None, hint: self.hint.clone(), empty: self.empty }
    }

    /// Whether no node began reading the body, so another may still have it whole.
    pub(crate) fn is_here(&self) -> bool {
        self.slot.lock().expect("lock").is_some()
    }
}

/// One try's view of an [`Unsent`] body.
pub(crate) struct Offered {
    slot: Arc<Mutex<Option<ReqBody>>>,
    body: Option<ReqBody>,
    hint: SizeHint,
    empty: bool,
}

impl Body for Offered {
    type Data = Bytes;
    type Error = RequestBodyError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, RequestBodyError>>> {
        let this = &mut *self;
        if this.body.is_none() {
            this.body = this.slot.lock().expect("lock").take();
        }
        match this.body.as_mut() {
            Some(body) => Pin::new(body).poll_frame(cx),
            None => Poll::Ready(Some(Err(RequestBodyError::Taken))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.body {
            Some(body) => body.is_end_stream(),
            None => self.empty,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.body {
            Some(body) => body.size_hint(),
            None => self.hint.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn a_body_stays_whole_until_a_try_reads_it_and_then_belongs_to_that_try() {
        let unsent = Unsent::new(crate::http::request_bytes(Bytes::from_static(b"event")));
        let unread = unsent.offer();
        assert_eq!(unread.size_hint().exact(), Some(5), "the length goes with every offer");
        drop(unread);
        assert!(unsent.is_here(), "an offer nobody read leaves the body here");
        let read = unsent.offer().collect().await.unwrap().to_bytes();
        assert_eq!(read, Bytes::from_static(b"event"));
        assert!(!unsent.is_here());
        assert!(unsent.offer().collect().await.is_err(), "a later try gets no part of a taken body");
    }
}
