//! One request forwarded to a copy and its answer passed back, bytes as they come: the request
//! body is sent on while the client sends it, the answer's body goes to the client as the copy
//! writes it, and neither is decoded (see `framing`).
//!
//! Failures are answered as the general proxy answers them: 404 for an unknown service, 503
//! with no healthy copy, 502 when no copy can be reached or its answer cannot be passed on, 504
//! when the copy does not start answering within the service's request timeout — counted from
//! the request's head, so a request body that takes longer to arrive is cut off by it too (as
//! the general proxy's timeout covers its body). A copy that
//! refuses the connection is skipped for another once; a kept connection the copy had closed is
//! replaced by a fresh one for a request that is safe to send again.

use super::copies::Copies;
use super::date;
use super::framing::{BodyCursor, ChunkError, Framing};
use super::head::{answer, Answer, AnswerError, Forward};
use super::upload::{Upload, UploadError, READ_CHUNK};
use crate::errors::AwsError;
use crate::http::Resp;
use crate::proxy::answers;
use http_body_util::BodyExt;
use skiff_services::{RouteLookup, ServiceRoute};
use std::io;
use std::net::SocketAddr;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};

/// An answer head larger than this is refused (hyper's client allows about as much).
const MAX_ANSWER_HEAD: usize = 64 * 1024;
const MAX_ANSWER_HEADERS: usize = 128;

/// A request whose head has been read, to forward.
pub(crate) struct Job {
    pub(crate) service: String,
    pub(crate) head: Vec<u8>,
    pub(crate) body: Framing,
    pub(crate) head_only: bool,
    pub(crate) idempotent: bool,
}

impl From<Forward<'_>> for Job {
    fn from(f: Forward<'_>) -> Self {
        Self { service: f.service.to_string(), head: f.head, body: f.body, head_only: f.head_only, idempotent: f.idempotent }
    }
}

/// What becomes of the client connection after an exchange.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum After {
    KeepAlive,
    Close,
    /// Close, with the rest of the request body unread: the client may still be sending it.
    CloseUnread,
}

/// The client's stream, with what was read from it and not yet used (the request body's
/// start, or a pipelined next request).
pub(crate) struct Client<'a> {
    pub(crate) stream: &'a mut TcpStream,
    pub(crate) inbound: &'a mut Vec<u8>,
}

/// How an exchange failed.
enum Failure {
    /// Answered with this; `body_read`: the request body was read whole, so the connection
    /// can carry the client's next request.
    Reply { resp: Resp, body_read: bool },
    /// The client is gone, or cut off mid-answer: nothing more can be said on its connection.
    Abort,
}

pub(crate) async fn exchange(client: Client<'_>, copies: &mut Copies, routes: &dyn RouteLookup, job: &Job) -> After {
    let Client { stream, inbound } = client;
    match forward(stream, inbound, copies, routes, job).await {
        Ok(after) => after,
        Err(Failure::Reply { resp, body_read }) => {
            let body_read = body_read || job.body == Framing::Empty;
            match (reply(stream, resp, !body_read).await, body_read) {
                (true, true) => After::KeepAlive,
                (true, false) => After::CloseUnread,
                (false, _) => After::Close,
            }
        }
        Err(Failure::Abort) => After::Close,
    }
}

async fn forward(stream: &mut TcpStream, inbound: &mut Vec<u8>, copies: &mut Copies, routes: &dyn RouteLookup, job: &Job) -> Result<After, Failure> {
    let name = job.service.as_str();
    let Some(route) = routes.route(name) else {
        return Err(unread(answers::unknown_service(name)));
    };
    let deadline = Instant::now() + route.request_timeout();
    let mut skip: Option<String> = None;
    let mut refused = None;
    for _ in 0..2 {
        let Some(claim) = route.pick(skip.as_deref()) else {
            if refused.is_some() {
                break;
            }
            return Err(unread(answers::no_healthy_copy(name)));
        };
        let endpoint = claim.endpoint();
        let kept = copies.take(&endpoint.id);
        let fresh_on_failure = kept.is_some() && job.idempotent && job.body == Framing::Empty;
        let copy = match kept {
            Some(copy) => copy,
            None => match connect(endpoint.addr, deadline).await {
                Ok(copy) => copy,
                Err(Connect::TimedOut) => return Err(unread(answers::timed_out(name, route.request_timeout()))),
                Err(Connect::Refused(e)) => {
                    skip = Some(endpoint.id.clone());
                    refused = Some(e);
                    continue;
                }
            },
        };
        let answered = match try_copy(copy, stream, inbound, job, deadline, &route).await {
            Err(Tried::Stale) if fresh_on_failure => match connect(endpoint.addr, deadline).await {
                Ok(copy) => try_copy(copy, stream, inbound, job, deadline, &route).await,
                Err(_) => return Err(Tried::Stale.failure(name)),
            },
            other => other,
        };
        return match answered {
            Ok((copy, answer, upload)) => pass(copy, stream, answer, upload, inbound, copies, &endpoint.id).await,
            Err(tried) => Err(tried.failure(name)),
        };
    }
    Err(unread(answers::no_copy_accepted(name, refused)))
}

/// An answer head read from a copy, with the bytes after it already read.
struct Answered {
    answer: Answer,
    after_head: Vec<u8>,
}

/// How a try on one connection to a copy failed.
enum Tried {
    /// The kept connection was closed before anything was answered (safe to retry when the
    /// request may be sent again).
    Stale,
    Client,
    MalformedBody(ChunkError),
    /// The request timeout passed; `body_read`: the request body had been read whole.
    TimedOut {
        after: std::time::Duration,
        body_read: bool,
    },
    /// The copy failed; `body_read`: the request body had been read whole.
    Copy {
        why: String,
        body_read: bool,
    },
}

impl Tried {
    fn failure(self, name: &str) -> Failure {
        match self {
            Tried::Client => Failure::Abort,
            Tried::MalformedBody(e) => unread(AwsError::InvalidRequestContent.response(e.to_string())),
            Tried::TimedOut { after, body_read } => Failure::Reply { resp: answers::timed_out(name, after), body_read },
            Tried::Stale => unread(AwsError::BadGateway.response(format!("service {name}: the copy closed the connection"))),
            Tried::Copy { why, body_read } => Failure::Reply { resp: AwsError::BadGateway.response(format!("service {name}: {why}")), body_read },
        }
    }
}

/// Sends the request on `copy` and reads the final answer's head, passing interim answers on.
/// The body is sent while the answer is awaited (see `upload`), which may come first.
async fn try_copy(
    mut copy: TcpStream,
    stream: &mut TcpStream,
    inbound: &mut Vec<u8>,
    job: &Job,
    deadline: Instant,
    route: &ServiceRoute,
) -> Result<(TcpStream, Answered, Upload), Tried> {
    let timeout = route.request_timeout();
    let start = Upload::start(&mut copy, &job.head, BodyCursor::new(&job.body), inbound);
    let mut upload = timeout_at(deadline, start).await.map_err(|_| Tried::TimedOut { after: timeout, body_read: false })??;
    let mut from_copy = Vec::with_capacity(READ_CHUNK);
    loop {
        let (mut from, mut to) = copy.split();
        let (mut client_from, mut client_to) = stream.split();
        let head = read_answer_head(&mut from, &mut from_copy, deadline, job.head_only);
        let read = match upload.is_sending() {
            false => Some(head.await),
            true => tokio::select! {
                read = head => Some(read),
                sent = upload.send_rest(&mut client_from, &mut to, inbound) => match sent {
                    Ok(()) => None,
                    Err(e) => return Err(e.into()),
                },
            },
        };
        // Sending ended first: the answer head is awaited again, from what was read of it.
        let Some(read) = read else { continue };
        let answered = read.map_err(|e| e.tried(timeout, upload.is_done()))?;
        if !answered.answer.interim {
            return Ok((copy, answered, upload));
        }
        client_to.write_all(&answered.answer.head).await.map_err(|_| Tried::Client)?;
        from_copy = answered.after_head;
    }
}

impl From<UploadError> for Tried {
    fn from(e: UploadError) -> Self {
        match e {
            UploadError::Stale => Tried::Stale,
            UploadError::Client => Tried::Client,
            UploadError::MalformedBody(e) => Tried::MalformedBody(e),
        }
    }
}

/// Why no answer head came from a copy.
enum HeadError {
    /// The connection closed, or failed, before any byte of an answer.
    Closed,
    TimedOut,
    Copy(String),
}

impl HeadError {
    /// The failure of a try whose request timeout is `timeout`; `body_read`: the request body
    /// had been sent whole.
    fn tried(self, timeout: std::time::Duration, body_read: bool) -> Tried {
        match self {
            HeadError::Closed if body_read => Tried::Stale,
            HeadError::Closed => Tried::Copy { why: "it closed the connection before the request body was through".into(), body_read },
            HeadError::TimedOut => Tried::TimedOut { after: timeout, body_read },
            HeadError::Copy(why) => Tried::Copy { why, body_read },
        }
    }
}

/// Reads an answer head into `from_copy`. Cancel-safe: what was read stays in `from_copy`, and
/// a later call parses it again.
async fn read_answer_head<R: AsyncRead + Unpin>(copy: &mut R, from_copy: &mut Vec<u8>, deadline: Instant, head_only: bool) -> Result<Answered, HeadError> {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; MAX_ANSWER_HEADERS];
        let mut resp = httparse::Response::new(&mut headers);
        match resp.parse(from_copy) {
            Ok(httparse::Status::Complete(len)) => {
                let answer = answer(&resp, head_only, &date::now()).map_err(|e: AnswerError| HeadError::Copy(format!("its answer {e}")))?;
                return Ok(Answered { answer, after_head: from_copy[len..].to_vec() });
            }
            Ok(httparse::Status::Partial) if from_copy.len() < MAX_ANSWER_HEAD => {}
            Ok(httparse::Status::Partial) => return Err(HeadError::Copy("its answer head is too large".into())),
            Err(e) => return Err(HeadError::Copy(format!("its answer head is malformed: {e}"))),
        }
        from_copy.reserve(READ_CHUNK);
        match timeout_at(deadline, copy.read_buf(from_copy)).await {
            Err(_) => return Err(HeadError::TimedOut),
            Ok(Err(_) | Ok(0)) if from_copy.is_empty() => return Err(HeadError::Closed),
            Ok(Err(e)) => return Err(HeadError::Copy(format!("reading its answer: {e}"))),
            Ok(Ok(0)) => return Err(HeadError::Copy("it closed the connection mid-answer".into())),
            Ok(Ok(_)) => {}
        }
    }
}

/// Passes the answer to the client while the rest of the request body, if any, is still sent,
/// and keeps the copy's connection if it can carry another request.
async fn pass(
    mut copy: TcpStream,
    stream: &mut TcpStream,
    answered: Answered,
    mut upload: Upload,
    inbound: &mut Vec<u8>,
    copies: &mut Copies,
    copy_id: &str,
) -> Result<After, Failure> {
    let Answered { answer, after_head } = answered;
    // An answer that comes before the request body is through, from a copy that closes its
    // connection after it, will never see the rest of the body: the client's connection closes
    // too, and is told so. Otherwise the body may still be through by the answer's end (an
    // echo), and the connection is kept if it is.
    let copy_closes = answer.copy_closes;
    let answer = if copy_closes && !upload.is_done() { answer.closing() } else { answer };
    let ended = {
        let (mut from, mut to) = copy.split();
        let (mut client_from, mut client_to) = stream.split();
        let relay = relay_body(&mut from, &mut client_to, answer, after_head);
        tokio::pin!(relay);
        loop {
            if !upload.is_sending() {
                break relay.await;
            }
            tokio::select! {
                ended = &mut relay => break ended,
                sent = upload.send_rest(&mut client_from, &mut to, inbound) => match sent {
                    Ok(()) => {}
                    Err(_) => return Err(Failure::Abort),
                },
            }
        }
    }?;
    match (ended, upload.is_done()) {
        (_, false) => Ok(After::CloseUnread),
        (BodyEnd::ConnectionEnded, true) => Ok(After::Close),
        (BodyEnd::Surplus, true) => Ok(After::KeepAlive),
        (BodyEnd::Clean, true) => {
            if !copy_closes {
                copies.keep(copy_id, copy);
            }
            Ok(After::KeepAlive)
        }
    }
}

/// How an answer's body ended.
enum BodyEnd {
    /// With the copy's connection: the end of a close-delimited body, or a body cut short,
    /// which the client can only learn from its connection closing.
    ConnectionEnded,
    /// The copy sent more than the answer: its connection is not kept.
    Surplus,
    Clean,
}

/// Writes the answer's head and body to the client as the copy sends the body.
async fn relay_body<R, W>(copy: &mut R, client: &mut W, answer: Answer, after_head: Vec<u8>) -> Result<BodyEnd, Failure>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut body = BodyCursor::new(&answer.body);
    let ready = body.advance(&after_head).map_err(|_| Failure::Abort)?;
    let mut out = answer.head;
    out.extend_from_slice(&after_head[..ready]);
    let surplus = ready < after_head.len();
    client.write_all(&out).await.map_err(|_| Failure::Abort)?;
    let mut chunk = Vec::new();
    while !body.is_done() {
        chunk.clear();
        chunk.reserve(READ_CHUNK);
        let n = copy.read_buf(&mut chunk).await.map_err(|_| Failure::Abort)?;
        if n == 0 {
            return Ok(BodyEnd::ConnectionEnded);
        }
        let part = body.advance(&chunk[..n]).map_err(|_| Failure::Abort)?;
        client.write_all(&chunk[..part]).await.map_err(|_| Failure::Abort)?;
        if part < n {
            return Ok(BodyEnd::Surplus);
        }
    }
    Ok(if surplus { BodyEnd::Surplus } else { BodyEnd::Clean })
}

enum Connect {
    TimedOut,
    Refused(io::Error),
}

async fn connect(addr: SocketAddr, deadline: Instant) -> Result<TcpStream, Connect> {
    match timeout_at(deadline, TcpStream::connect(addr)).await {
        Err(_) => Err(Connect::TimedOut),
        Ok(Err(e)) => Err(Connect::Refused(e)),
        Ok(Ok(stream)) => {
            let _ = stream.set_nodelay(true);
            Ok(stream)
        }
    }
}

/// A refusal given before the request body was read.
fn unread(resp: Resp) -> Failure {
    Failure::Reply { resp, body_read: false }
}

/// Writes one of the gateway's own answers; `close`: and says the connection closes after it.
async fn reply(stream: &mut TcpStream, resp: Resp, close: bool) -> bool {
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let status = parts.status;
    let mut out = format!("HTTP/1.1 {} {}\r\n", status.as_u16(), status.canonical_reason().unwrap_or("")).into_bytes();
    for (name, value) in &parts.headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&body);
    stream.write_all(&out).await.is_ok()
}

#[cfg(test)]
mod tests {
    use super::super::copies::IdlePool;
    use super::super::head::{classify, Gate, Lane};
    use super::*;
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;
    use tokio::net::TcpListener;

    struct Routes(HashMap<String, Arc<ServiceRoute>>);

    impl RouteLookup for Routes {
        fn route(&self, name: &str) -> Option<Arc<ServiceRoute>> {
            self.0.get(name).cloned()
        }
    }

    /// A route `web` to one copy at `addr` (none if `None`), with a 300 ms request timeout.
    fn routes(addr: Option<SocketAddr>) -> Routes {
        let route = ServiceRoute::new("web", Duration::from_millis(300));
        route.set(&addr.map(|a| vec![("copy1".to_string(), a, 1)]).unwrap_or_default());
        Routes(HashMap::from([("web".to_string(), route)]))
    }

    /// A copy that answers each request read on each connection with the next of `answers`,
    /// counting the connections it accepted.
    async fn copy(answers: &'static [&'static str]) -> (SocketAddr, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (addr, accepted) = (listener.local_addr().unwrap(), Arc::new(AtomicUsize::new(0)));
        let counted = accepted.clone();
        let next = Arc::new(AtomicUsize::new(0));
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                let next = next.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0; 4096];
                    while conn.read(&mut buf).await.is_ok_and(|n| n > 0) {
                        let Some(answer) = answers.get(next.fetch_add(1, Ordering::SeqCst)) else { return };
                        if answer.is_empty() {
                            return std::future::pending().await;
                        }
                        conn.write_all(answer.as_bytes()).await.unwrap();
                        if answer.contains("close-me") {
                            return;
                        }
                    }
                });
            }
        });
        (addr, accepted)
    }

    /// Sends `raw` through one exchange with `routes`; returns what happens to the connection and
    /// what the client read.
    async fn through(routes: &Routes, copies: &mut Copies, raw: &str) -> (After, String) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (mut server, peer) = listener.accept().await.unwrap();
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        let len = match req.parse(raw.as_bytes()).unwrap() {
            httparse::Status::Complete(len) => len,
            httparse::Status::Partial => panic!("incomplete head"),
        };
        let Lane::Forward(forward) = classify(&req, &Gate { token: None, peer: peer.ip() }) else { panic!("not forwarded") };
        let job = Job::from(forward);
        let mut inbound = raw.as_bytes()[len..].to_vec();
        let after = exchange(Client { stream: &mut server, inbound: &mut inbound }, copies, routes, &job).await;
        drop(server);
        let mut read = String::new();
        client.read_to_string(&mut read).await.unwrap();
        (after, read)
    }

    const GET: &str = "GET /svc/web/ HTTP/1.1\r\nHost: localhost\r\n\r\n";

    #[tokio::test]
    async fn answers_pass_as_they_are_and_the_copy_connection_serves_the_next_request() {
        let (addr, accepted) = copy(&[
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nKeep-Alive: timeout=5\r\n\r\nok",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;x\r\nhi\r\n0\r\nx-sum: 1\r\n\r\n",
        ])
        .await;
        let (routes, mut copies) = (routes(Some(addr)), Copies::new(Arc::new(IdlePool::default())));
        let (after, read) = through(&routes, &mut copies, GET).await;
        assert_eq!(after, After::KeepAlive);
        assert!(read.starts_with("HTTP/1.1 200 OK\r\nContent-Length: 2\r\ndate: ") && read.ends_with(" GMT\r\n\r\nok"), "{read:?}");
        let (after, read) = through(&routes, &mut copies, GET).await;
        assert_eq!(after, After::KeepAlive);
        assert!(read.ends_with("\r\n\r\n2;x\r\nhi\r\n0\r\nx-sum: 1\r\n\r\n"), "chunks and trailers pass as they are: {read:?}");
        assert_eq!(accepted.load(Ordering::SeqCst), 1, "both went over one connection to the copy");
    }

    #[tokio::test]
    async fn an_answer_that_ends_with_its_connection_closes_the_clients_too() {
        let (addr, _) = copy(&["HTTP/1.0 200 OK\r\n\r\nclose-me, all of it"]).await;
        let (after, read) = through(&routes(Some(addr)), &mut Copies::new(Arc::default()), GET).await;
        assert_eq!(after, After::Close);
        assert!(read.starts_with("HTTP/1.1 200 OK\r\ndate: ") && read.ends_with("connection: close\r\n\r\nclose-me, all of it"), "{read:?}");
    }

    #[tokio::test]
    async fn failures_are_answered_with_the_proxys_statuses() {
        let status = |read: &str| read.split(' ').nth(1).map(str::to_string);
        let mut copies = Copies::new(Arc::default());
        let (_, read) = through(&routes(None), &mut copies, "GET /svc/nope/ HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
        assert_eq!(status(&read).as_deref(), Some("404"), "{read}");
        let (after, read) = through(&routes(None), &mut copies, GET).await;
        assert_eq!((after, status(&read).as_deref()), (After::KeepAlive, Some("503")), "{read}");
        let closed = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
        let (_, read) = through(&routes(Some(closed)), &mut copies, GET).await;
        assert!(status(&read).as_deref() == Some("502") && read.contains("no copy accepted the connection"), "{read}");
        let (silent, _) = copy(&[""]).await;
        let (after, read) = through(&routes(Some(silent)), &mut copies, GET).await;
        assert!(after == After::KeepAlive && status(&read).as_deref() == Some("504"), "{read}");
        let (garbled, _) = copy(&["HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok"]).await;
        let (_, read) = through(&routes(Some(garbled)), &mut copies, GET).await;
        assert!(status(&read).as_deref() == Some("502") && read.contains("Content-Length"), "{read}");
        let upload = "POST /svc/web/ HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhel";
        let (after, read) = through(&routes(None), &mut copies, upload).await;
        assert!(after == After::CloseUnread && read.contains("connection: close"), "an unread body closes the connection: {read}");
    }

    #[tokio::test]
    async fn a_copy_that_answers_before_the_body_is_through_is_heard_and_the_connection_closes() {
        // The copy answers on reading the head and closes its connection, as a server refusing
        // an upload does; the client has sent 3 bytes of a 100 000 byte body.
        let (addr, _) = copy(&["HTTP/1.1 413 Payload Too Large\r\nContent-Length: 4\r\nConnection: close\r\nX-Then: close-me\r\n\r\nbig!"]).await;
        let upload = "PUT /svc/web/ HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100000\r\n\r\nabc";
        let (after, read) = through(&routes(Some(addr)), &mut Copies::new(Arc::default()), upload).await;
        assert!(read.starts_with("HTTP/1.1 413 Payload Too Large\r\n") && read.ends_with("connection: close\r\n\r\nbig!"), "{read:?}");
        assert_eq!(after, After::CloseUnread, "the rest of the body was never read");
    }

    #[tokio::test]
    async fn a_request_body_that_stops_arriving_is_cut_off_at_the_request_timeout() {
        let (silent, _) = copy(&[""]).await;
        let upload = "POST /svc/web/ HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhel";
        let started = Instant::now();
        // The client sends 3 of the 5 bytes and then nothing, keeping its connection open.
        let (after, read) = through(&routes(Some(silent)), &mut Copies::new(Arc::default()), upload).await;
        assert!(read.starts_with("HTTP/1.1 504 ") && read.contains("connection: close"), "{read}");
        assert_eq!(after, After::CloseUnread, "the rest of the body was never read");
        assert!(started.elapsed() < Duration::from_secs(2), "cut off at the 300 ms timeout: {:?}", started.elapsed());
    }
}
