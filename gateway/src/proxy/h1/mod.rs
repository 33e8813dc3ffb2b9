//! The service proxy's own HTTP/1.1 path: a connection's requests to `/svc/{name}/...` are read,
//! forwarded and answered here, without hyper, as nginx does it — one parse of each head, one
//! write of the rewritten head with the body's first bytes, bodies passed through as they are,
//! and a connection to the copy kept per client connection.
//!
//! Every connection starts here. The first request that is not a plain service request (see
//! `head`), or any bytes that do not parse as HTTP/1.1 (HTTP/2's preface among them), hand the
//! connection, with what was read of it, to the general server (hyper), which then serves it to
//! its end. So the general server still answers every route and every error, and this path only
//! ever sees requests it can forward whole.
//!
//! - `head`: which requests are forwarded here, and the heads sent on (pure).
//! - `framing`: where a body ends, for bodies forwarded byte for byte (pure).
//! - `date`: the `Date` added to an answer without one.
//! - `exchange`: one request and its answer.
//! - `upload`: a request body sent to a copy, while its answer is read.
//! - `linger`: closing a connection whose client may still be sending.
//! - `copies`: connections to copies, kept per client connection and pooled after it.
//! - `prefixed`: a connection with its already-read bytes put back, for the handoff.

mod copies;
mod date;
mod exchange;
mod framing;
mod head;
mod linger;
mod prefixed;
mod upload;

use crate::connections::Activity;
use copies::Copies;
pub(crate) use copies::IdlePool;
use exchange::{exchange, After, Client, Job};
use head::{classify, Gate, Lane};
pub(crate) use prefixed::Prefixed;
use skiff_services::RouteLookup;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::watch;
use upload::READ_CHUNK;

/// A request head larger than this goes to the general server (which refuses it properly).
const MAX_HEAD: usize = 16 * 1024;
/// Headers read per request here; a request with more goes to the general server.
const MAX_HEADERS: usize = 64;

/// What one connection needs from the server.
pub(crate) struct Conn<'a> {
    pub(crate) routes: &'a dyn RouteLookup,
    /// The server's token; `None` for an open server.
    pub(crate) token: Option<&'a str>,
    pub(crate) peer: SocketAddr,
    pub(crate) activity: &'a Arc<Activity>,
    pub(crate) pool: &'a Arc<IdlePool>,
}

/// How a connection left this path.
pub(crate) enum Ending {
    Closed,
    /// The general server takes it from here, its unread bytes first.
    Handoff(Prefixed<TcpStream>),
}

/// Serves `stream` while its requests are plain service requests. Between requests, a change
/// on `draining` (the server shutting down) closes it.
pub(crate) async fn serve(mut stream: TcpStream, conn: Conn<'_>, draining: &mut watch::Receiver<()>) -> Ending {
    let gate = Gate { token: conn.token, peer: conn.peer.ip() };
    let mut inbound: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    let mut copies = Copies::new(conn.pool.clone());
    loop {
        let (head_len, job, close) = loop {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut req = httparse::Request::new(&mut headers);
            let complete = match req.parse(&inbound) {
                Ok(httparse::Status::Complete(len)) => Some(len),
                Ok(httparse::Status::Partial) if inbound.len() < MAX_HEAD => None,
                _ => return Ending::Handoff(Prefixed::new(inbound, stream)),
            };
            if let Some(len) = complete {
                match classify(&req, &gate) {
                    Lane::Forward(forward) => {
                        let close = forward.close;
                        break (len, Job::from(forward), close);
                    }
                    Lane::General => return Ending::Handoff(Prefixed::new(inbound, stream)),
                }
            }
            if !read_more(&mut stream, &mut inbound, draining).await {
                return Ending::Closed;
            }
        };
        inbound.drain(..head_len);
        let in_flight = conn.activity.begin();
        let after = exchange(Client { stream: &mut stream, inbound: &mut inbound }, &mut copies, conn.routes, &job).await;
        drop(in_flight);
        if after == After::CloseUnread {
            linger::linger(&mut stream).await;
            return Ending::Closed;
        }
        if after == After::Close || close || draining.has_changed().unwrap_or(true) {
            return Ending::Closed;
        }
    }
}

/// Reads more of the client's bytes; `false` once it is done (closed, failed, or — between
/// requests — the server draining).
async fn read_more(stream: &mut TcpStream, inbound: &mut Vec<u8>, draining: &mut watch::Receiver<()>) -> bool {
    inbound.reserve(READ_CHUNK);
    let read = match inbound.is_empty() {
        true => tokio::select! {
            read = stream.read_buf(inbound) => read,
            _ = draining.changed() => return false,
        },
        false => stream.read_buf(inbound).await,
    };
    matches!(read, Ok(n) if n > 0)
}
