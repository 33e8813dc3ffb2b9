//! Keep-alive HTTP/1.1 connections from the gateway to service copies, each one driven by the
//! request that is using it.
//!
//! hyper's pooled client runs every connection as a task of its own: a request hands its message
//! to that task and waits for the answer to be handed back, two cross-task (often cross-thread)
//! wake-ups per request on top of the socket's own. Here the task serving the client's request
//! polls the connection itself while it waits for the answer's head, and the answer's body polls
//! it while it streams, so one proxied request runs start to end on one task.
//!
//! Invariants:
//! - A connection is polled only by the request holding it. One in the idle pool is polled by
//!   nobody: a close by the copy is noticed when the next request takes it and polls it first,
//!   and such a connection is dropped and another taken, the request untouched.
//! - A connection goes back to the pool only once the answer's body has ended; a request or
//!   answer abandoned halfway drops it (HTTP/1 cannot reuse a connection mid-message).
//! - Idle connections are dropped after [`IDLE`], below the 5 s keep-alive of common servers, so
//!   the gateway lets go before a copy closes one under a request.

use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::{self, Connection, SendRequest};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

const IDLE: Duration = Duration::from_secs(4);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Idle connections kept per copy; more than this many at once are closed when they finish.
const MAX_IDLE_PER_COPY: usize = 512;

/// Why a request did not get an answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SendError {
    /// No connection to the copy could be opened; the request was not touched and is returned.
    #[error("cannot connect: {error}")]
    Connect { error: std::io::Error, request: Box<Request<crate::http::ReqBody>> },
    /// The request was (maybe partly) sent and the exchange failed.
    #[error("{0}")]
    Failed(#[from] hyper::Error),
}

type Conn = Connection<TokioIo<TcpStream>, crate::http::ReqBody>;

struct Upstream {
    sender: SendRequest<crate::http::ReqBody>,
    /// `None` once the connection has ended.
    conn: Option<Conn>,
    /// The copy (container id) it leads to: an address can be reused by a newer container.
    copy: Arc<str>,
    idle_since: Instant,
}

impl Upstream {
    /// Ready for the next request, or `false` if the connection has ended.
    async fn ready(&mut self) -> bool {
        poll_fn(|cx| drive_until(&mut self.conn, cx, |quiet| self.sender.poll_ready(quiet).map(|r| r.is_ok()))).await
    }
}

/// Moves the connection along (reads, writes, state changes); false once it has ended.
fn drive(conn: &mut Option<Conn>, cx: &mut Context<'_>) -> bool {
    let Some(c) = conn.as_mut() else { return false };
    match Pin::new(c).poll(cx) {
        Poll::Pending => true,
        Poll::Ready(result) => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection to a service copy ended");
            }
            *conn = None;
            false
        }
    }
}

/// Polls `outcome`, something only the connection's own progress can bring about (readiness for
/// the next request, the answer's head, a chunk of its body), driving the connection before each
/// poll.
///
/// Both are first polled with a waker that does nothing. The connection and its channels keep
/// the last waker they were given, and had it been this task's, the progress made here (handing
/// over a request, taking a chunk) would wake this very task while it runs, which tokio treats as
/// a yield: the task is queued again and another worker thread woken to steal it, a futex round
/// trip per request. Only when there is nothing to take yet is the connection polled with the
/// task's waker, so that the copy's next bytes (or the client's, for an upload) wake it.
///
/// `outcome` must be ready whenever the connection has brought it about: nothing in it may answer
/// "not yet" for another reason, such as tokio's cooperative budget (hence `unconstrained` on the
/// answer), since the waker such a poll would wake is the no-op one.
fn drive_until<T>(conn: &mut Option<Conn>, cx: &mut Context<'_>, mut outcome: impl FnMut(&mut Context<'_>) -> Poll<T>) -> Poll<T> {
    let mut quiet = Context::from_waker(Waker::noop());
    // Two rounds: the connection hands over a chunk it has already read only once asked for it.
    for _ in 0..2 {
        drive(conn, &mut quiet);
        if let Poll::Ready(v) = outcome(&mut quiet) {
            return Poll::Ready(v);
        }
    }
    drive(conn, cx);
    outcome(&mut quiet)
}

/// Idle connections, by copy address.
#[derive(Default)]
pub(crate) struct Pool {
    idle: Mutex<HashMap<SocketAddr, Vec<Upstream>>>,
}

impl Pool {
    /// A pool whose idle connections past [`IDLE`] are closed by a background sweep, which ends
    /// with the pool.
    pub(crate) fn new() -> Arc<Self> {
        let pool = Arc::new(Self::default());
        let weak = Arc::downgrade(&pool);
        tokio::spawn(sweep(weak));
        pool
    }

    fn checkout(&self, addr: SocketAddr, copy: &str) -> Option<Upstream> {
        let mut stale = Vec::new();
        let found = {
            let mut idle = self.idle.lock().expect("pool lock");
            let list = idle.get_mut(&addr)?;
            loop {
                match list.pop() {
                    None => break None,
                    Some(up) if &*up.copy == copy && up.idle_since.elapsed() < IDLE => break Some(up),
                    Some(up) => stale.push(up),
                }
            }
        };
        drop(stale); // closes sockets outside the lock
        found
    }

    fn checkin(&self, addr: SocketAddr, mut up: Upstream) {
        if up.conn.is_none() || up.sender.is_closed() {
            return;
        }
        up.idle_since = Instant::now();
        let surplus = {
            let mut idle = self.idle.lock().expect("pool lock");
            let list = idle.entry(addr).or_default();
            list.push(up);
            (list.len() > MAX_IDLE_PER_COPY).then(|| list.remove(0))
        };
        drop(surplus);
    }

    /// Sends `request` to the copy `copy` at `addr` on a pooled or new connection and waits for
    /// the answer's head. A pooled connection that turns out to be closed is replaced by a new
    /// one without the request being lost (hyper hands back a message it never wrote).
    pub(crate) async fn send(self: &Arc<Self>, addr: SocketAddr, copy: &str, mut request: Request<crate::http::ReqBody>) -> Result<Response<Lease>, SendError> {
        loop {
            let (mut up, pooled) = match self.checkout(addr, copy) {
                Some(up) => (up, true),
                None => match connect(addr, Arc::from(copy)).await {
                    Ok(up) => (up, false),
                    Err(error) => return Err(SendError::Connect { error, request: Box::new(request) }),
                },
            };
            if !up.ready().await {
                if pooled {
                    continue;
                }
                let error = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "closed by the copy");
                return Err(SendError::Connect { error, request: Box::new(request) });
            }
            // Unconstrained: the answer's channel is a tokio one, and when the task's cooperative
            // budget runs out it would report "not yet" and wake the waker it was given — the
            // no-op one (see `drive_until`), so that wake-up would be lost.
            let mut answer = std::pin::pin!(tokio::task::unconstrained(up.sender.try_send_request(request)));
            let result = poll_fn(|cx| drive_until(&mut up.conn, cx, |quiet| answer.as_mut().poll(quiet))).await;
            match result {
                Ok(response) => return Ok(response.map(|body| Lease { body, upstream: Some(up), pool: self.clone(), addr })),
                Err(mut e) => match e.take_message() {
                    Some(unsent) if pooled => request = unsent,
                    _ => return Err(SendError::Failed(e.into_error())),
                },
            }
        }
    }
}

/// An answer's body together with the connection it arrives on: polling the body drives the
/// connection, and once the body has ended the connection goes back to the pool.
pub(crate) struct Lease {
    body: Incoming,
    upstream: Option<Upstream>,
    pool: Arc<Pool>,
    addr: SocketAddr,
}

impl Body for Lease {
    type Data = bytes::Bytes;
    type Error = hyper::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let body = &mut this.body;
        match this.upstream.as_mut() {
            Some(up) => drive_until(&mut up.conn, cx, |quiet| Pin::new(&mut *body).poll_frame(quiet)),
            None => Pin::new(body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(up) = self.upstream.take() {
            if self.body.is_end_stream() {
                self.pool.checkin(self.addr, up);
            }
        }
    }
}

async fn connect(addr: SocketAddr, copy: Arc<str>) -> std::io::Result<Upstream> {
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))??;
    stream.set_nodelay(true)?;
    let (sender, conn) = http1::Builder::new().handshake(TokioIo::new(stream)).await.map_err(std::io::Error::other)?;
    Ok(Upstream { sender, conn: Some(conn), copy, idle_since: Instant::now() })
}

async fn sweep(pool: Weak<Pool>) {
    let mut tick = tokio::time::interval(IDLE / 2);
    loop {
        tick.tick().await;
        let Some(pool) = pool.upgrade() else { return };
        let mut stale = Vec::new();
        pool.idle.lock().expect("pool lock").retain(|_, list| {
            let (keep, old): (Vec<_>, Vec<_>) = list.drain(..).partition(|up| up.idle_since.elapsed() < IDLE);
            stale.extend(old);
            *list = keep;
            !list.is_empty()
        });
        drop(stale);
    }
}
