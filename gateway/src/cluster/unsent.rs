//! A streamed request body that a walk over the nodes can still hand to the next node: it goes
//! to the first node that begins reading it, and until then it stays here.
//!
//! hyper's client reads a request body only once it has a connection and has queued the head
//! on it, so a node that could not be reached never took a byte, and the body is whole for the
//! next one. A node that took any of it has the call: the walk's safety rule makes its answer
//! final.

use crate::http::{ReqBody, RequestBodyError};
use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::sync::watch;

/// The body, until a node begins reading it.
pub(crate) struct Unsent {
    slot: Arc<Mutex<Option<ReqBody>>>,
    hint: SizeHint,
    empty: bool,
    /// Becomes true once a try has read the body to its end.
    ended: watch::Sender<bool>,
}

impl Unsent {
    pub(crate) fn new(body: ReqBody) -> Self {
        let (hint, empty) = (body.size_hint(), body.is_end_stream());
        // An empty body is never read: it is all sent from the start.
        let (ended, _) = watch::channel(empty);
        Self { slot: Arc::new(Mutex::new(Some(body))), hint, empty, ended }
    }

    /// The body for one try: it takes the body from here when first read.
    pub(crate) fn offer(&self) -> Offered {
        Offered { slot: self.slot.clone(), body: None, hint: self.hint, empty: self.empty, ended: self.ended.clone() }
    }

    /// Whether no node began reading the body, so another may still have it whole.
    pub(crate) fn is_here(&self) -> bool {
        self.slot.lock().expect("lock").is_some()
    }

    /// Resolves once a try has read the whole body (the client has sent it all).
    pub(crate) async fn all_sent(&self) {
        let mut ended = self.ended.subscribe();
        // The sender lives in `self`, so the wait can only end by the body ending.
        let _ = ended.wait_for(|ended| *ended).await;
    }
}

/// One try's view of an [`Unsent`] body.
pub(crate) struct Offered {
    slot: Arc<Mutex<Option<ReqBody>>>,
    body: Option<ReqBody>,
    hint: SizeHint,
    empty: bool,
    ended: watch::Sender<bool>,
}

impl Body for Offered {
    type Data = Bytes;
    type Error = RequestBodyError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, RequestBodyError>>> {
        let this = &mut *self;
        if this.body.is_none() {
            this.body = this.slot.lock().expect("lock").take();
        }
        let Some(body) = this.body.as_mut() else {
            return Poll::Ready(Some(Err(RequestBodyError::Taken)));
        };
        let frame = Pin::new(&mut *body).poll_frame(cx);
        // hyper stops reading a body of known length at its last byte, without asking for the
        // end: the body's own end-of-stream says it is through.
        if matches!(frame, Poll::Ready(None)) || body.is_end_stream() {
            this.ended.send_replace(true);
        }
        frame
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
            None => self.hint,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use std::time::Duration;

    #[tokio::test]
    async fn a_body_stays_whole_until_a_try_reads_it_and_then_belongs_to_that_try() {
        let unsent = Unsent::new(crate::http::request_bytes(Bytes::from_static(b"event")));
        let unread = unsent.offer();
        assert_eq!(unread.size_hint().exact(), Some(5), "the length goes with every offer");
        drop(unread);
        assert!(unsent.is_here(), "an offer nobody read leaves the body here");
        let not_yet = tokio::time::timeout(Duration::from_millis(50), unsent.all_sent()).await;
        assert!(not_yet.is_err(), "nothing was sent yet");
        let read = unsent.offer().collect().await.unwrap().to_bytes();
        assert_eq!(read, Bytes::from_static(b"event"));
        assert!(!unsent.is_here());
        tokio::time::timeout(Duration::from_secs(1), unsent.all_sent()).await.expect("read to its end: all sent");
        assert!(unsent.offer().collect().await.is_err(), "a later try gets no part of a taken body");
    }

    #[tokio::test]
    async fn an_empty_body_is_all_sent_from_the_start() {
        let unsent = Unsent::new(crate::http::request_bytes(Bytes::new()));
        tokio::time::timeout(Duration::from_secs(1), unsent.all_sent()).await.expect("nothing to send");
    }
}
