//! Message heads, as pure functions: which requests the connection's own reader forwards (and
//! the head it sends the copy), and the head of a copy's answer as the client gets it.
//!
//! A request is forwarded here only when nothing about it needs more than its head: an
//! HTTP/1.1 request to `/svc/{name}/...` from a client (not a cluster peer), admitted by the
//! bearer token or an open server's site check, with plain framing. Anything else — another
//! route, a signature to verify, `Expect`, `Upgrade`, ambiguous framing, a refusal to explain —
//! goes to the general server, which answers it as it answers every request.

use super::framing::Framing;
use crate::auth::{admits_plainly, local};
use crate::route::{parse, Route};
use hyper::Method;
use skiff_cluster::secret::{FORWARDED_HEADER, SECRET_HEADER};
use std::io::Write as _;
use std::net::IpAddr;

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1). Framing headers
/// (`Transfer-Encoding`, `Trailer`) pass: bodies are forwarded byte for byte, framing included.
const HOP_BY_HOP: [&str; 6] = ["connection", "keep-alive", "proxy-connection", "te", "upgrade", "proxy-authorization"];

/// Headers this proxy sets on a forwarded request, replacing any the client sent.
const FORWARDED: [&str; 4] = ["x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-forwarded-prefix"];

/// What the connection's reader does with a request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Lane<'h> {
    Forward(Forward<'h>),
    /// The general server takes the connection from this request on.
    General,
}

/// A request to forward to a copy of `service`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Forward<'h> {
    pub(crate) service: &'h str,
    /// The head the copy gets.
    pub(crate) head: Vec<u8>,
    pub(crate) body: Framing,
    /// A `HEAD` request: its answer has no body, whatever its head says.
    pub(crate) head_only: bool,
    /// May be sent again on a fresh connection when a kept one turns out closed.
    pub(crate) idempotent: bool,
    /// The client asked for its connection to be closed after this exchange.
    pub(crate) close: bool,
}

/// Who is asking, and the server's credentials.
pub(crate) struct Gate<'a> {
    /// The server's token; `None` for an open server.
    pub(crate) token: Option<&'a str>,
    pub(crate) peer: IpAddr,
}

/// The fields of a request head that decide its lane, gathered in one pass.
#[derive(Default)]
struct Fields<'h> {
    host: Option<&'h [u8]>,
    origin: Option<&'h [u8]>,
    authorization: Option<&'h [u8]>,
    forwarded_for: Vec<&'h [u8]>,
    content_length: Vec<&'h [u8]>,
    transfer_encoding: Vec<&'h [u8]>,
    /// `Upgrade`, `Expect`, or a cluster header: a case for the general server.
    special: bool,
    connection: Vec<&'h [u8]>,
}

impl<'h> Fields<'h> {
    fn of(headers: &[httparse::Header<'h>]) -> Self {
        let mut f = Fields::default();
        for h in headers {
            let name = h.name;
            let is = |n: &str| name.eq_ignore_ascii_case(n);
            if is("host") {
                f.host = Some(h.value);
            } else if is("origin") {
                f.origin = Some(h.value);
            } else if is("authorization") {
                f.authorization = Some(h.value);
            } else if is("x-forwarded-for") {
                f.forwarded_for.push(h.value);
            } else if is("content-length") {
                f.content_length.push(h.value);
            } else if is("transfer-encoding") {
                f.transfer_encoding.push(h.value);
            } else if is("connection") {
                f.connection.push(h.value);
            } else if is("upgrade") || is("expect") || is(SECRET_HEADER) || is(FORWARDED_HEADER) {
                f.special = true;
            }
        }
        f
    }

    /// The body's framing, or `None` when it is anything but plain.
    fn framing(&self) -> Option<Framing> {
        match (self.content_length.as_slice(), self.transfer_encoding.as_slice()) {
            ([], []) => Some(Framing::Empty),
            ([length], []) => content_length(length).map(Framing::Length),
            ([], [coding]) => coding.trim_ascii().eq_ignore_ascii_case(b"chunked").then_some(Framing::Chunked),
            _ => None,
        }
    }

    /// The names the `Connection` headers list, lowercased.
    fn connection_tokens(&self) -> Vec<String> {
        self.connection
            .iter()
            .flat_map(|v| v.split(|b| *b == b','))
            .map(|t| String::from_utf8_lossy(t.trim_ascii()).to_ascii_lowercase())
            .filter(|t| !t.is_empty())
            .collect()
    }
}

/// Decides a request's lane from its parsed head.
pub(crate) fn classify<'h>(req: &httparse::Request<'_, 'h>, gate: &Gate<'_>) -> Lane<'h> {
    let (Some(1), Some(method), Some(target)) = (req.version, req.method, req.path) else { return Lane::General };
    let Ok(method) = Method::from_bytes(method.as_bytes()) else { return Lane::General };
    let (path, query) = target.split_once('?').map_or((target, None), |(p, q)| (p, Some(q)));
    let Route::ServiceProxy { service, target: rest } = parse(&method, path, query) else { return Lane::General };
    let fields = Fields::of(req.headers);
    let Some(body) = fields.framing() else { return Lane::General };
    if fields.special || !admitted(&fields, gate.token) {
        return Lane::General;
    }
    let tokens = fields.connection_tokens();
    let head = request_head(&method, &rest, service, req.headers, &fields, &tokens, gate);
    Lane::Forward(Forward {
        service,
        head,
        body,
        head_only: method == Method::HEAD,
        idempotent: method.is_idempotent(),
        close: tokens.iter().any(|t| t == "close"),
    })
}

/// Let through without the general server's checks: the bearer token, or an open server's
/// site check passed. Any refusal is the general server's to give.
fn admitted(fields: &Fields<'_>, token: Option<&str>) -> bool {
    if !admits_plainly(token, fields.authorization) {
        return false;
    }
    if token.is_some() {
        return true;
    }
    match (text(fields.host), text(fields.origin)) {
        (Ok(host), Ok(origin)) => local::check_site(host, origin).is_ok(),
        _ => false,
    }
}

fn text(value: Option<&[u8]>) -> Result<Option<&str>, std::str::Utf8Error> {
    value.map(std::str::from_utf8).transpose()
}

fn request_head(
    method: &Method,
    rest: &str,
    service: &str,
    headers: &[httparse::Header<'_>],
    fields: &Fields<'_>,
    tokens: &[String],
    gate: &Gate<'_>,
) -> Vec<u8> {
    let mut head = Vec::with_capacity(512);
    let _ = write!(head, "{method} {rest} HTTP/1.1\r\n");
    let credential_is_ours = gate.token.is_some();
    for h in headers {
        let dropped = is_hop_by_hop(h.name, tokens)
            || FORWARDED.iter().any(|f| h.name.eq_ignore_ascii_case(f))
            || (credential_is_ours && h.name.eq_ignore_ascii_case("authorization"));
        if !dropped {
            put_header(&mut head, h.name.as_bytes(), h.value);
        }
    }
    let mut chain: Vec<u8> = fields.forwarded_for.join(&b", "[..]);
    if !chain.is_empty() {
        chain.extend_from_slice(b", ");
    }
    let _ = write!(chain, "{}", gate.peer);
    put_header(&mut head, b"x-forwarded-for", &chain);
    if let Some(host) = fields.host {
        put_header(&mut head, b"x-forwarded-host", host);
    }
    put_header(&mut head, b"x-forwarded-proto", b"http");
    let _ = write!(head, "x-forwarded-prefix: /svc/{service}\r\n\r\n");
    head
}

/// Why a copy's answer cannot be passed on.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum AnswerError {
    #[error("its Content-Length is not a number")]
    BadLength,
    #[error("it switched protocols, which was not asked for")]
    UnaskedUpgrade,
}

/// A copy's answer head, as the client gets it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Answer {
    pub(crate) head: Vec<u8>,
    pub(crate) body: Framing,
    /// An interim answer (1xx): the final one follows.
    pub(crate) interim: bool,
    /// The copy closes its connection after this answer.
    pub(crate) copy_closes: bool,
}

/// The client's head of a copy's answer to a request (`head_only`: to `HEAD`); `date` is added
/// to an answer that has no `Date`.
pub(crate) fn answer(resp: &httparse::Response<'_, '_>, head_only: bool, date: &str) -> Result<Answer, AnswerError> {
    let code = resp.code.unwrap_or(502);
    if code == 101 {
        return Err(AnswerError::UnaskedUpgrade);
    }
    let fields = Fields::of(resp.headers);
    let tokens = fields.connection_tokens();
    let interim = (100..200).contains(&code);
    let body = if interim || head_only || code == 204 || code == 304 {
        Framing::Empty
    } else {
        match (fields.transfer_encoding.last(), fields.content_length.as_slice()) {
            (Some(coding), _) => match last_coding(coding).eq_ignore_ascii_case(b"chunked") {
                true => Framing::Chunked,
                false => Framing::UntilClose,
            },
            (None, []) => Framing::UntilClose,
            (None, lengths) => {
                let parsed: Vec<Option<u64>> = lengths.iter().map(|l| content_length(l)).collect();
                match parsed[0] {
                    Some(n) if parsed.iter().all(|p| *p == Some(n)) => Framing::Length(n),
                    _ => return Err(AnswerError::BadLength),
                }
            }
        }
    };
    let http10 = resp.version == Some(0);
    let copy_closes = tokens.iter().any(|t| t == "close") || (http10 && !tokens.iter().any(|t| t == "keep-alive"));
    let mut head = Vec::with_capacity(256);
    let _ = write!(head, "HTTP/1.1 {code} {}\r\n", resp.reason.unwrap_or(""));
    for h in resp.headers.iter().filter(|h| !is_hop_by_hop(h.name, &tokens)) {
        put_header(&mut head, h.name.as_bytes(), h.value);
    }
    if !resp.headers.iter().any(|h| h.name.eq_ignore_ascii_case("date")) {
        put_header(&mut head, b"date", date.as_bytes());
    }
    if body == Framing::UntilClose {
        head.extend_from_slice(b"connection: close\r\n");
    }
    head.extend_from_slice(b"\r\n");
    Ok(Answer { head, body, interim, copy_closes })
}

impl Answer {
    /// The answer saying the client's connection closes after it (unless it already does).
    pub(crate) fn closing(mut self) -> Self {
        if self.body != Framing::UntilClose {
            let end = self.head.len() - 2;
            self.head.splice(end..end, b"connection: close\r\n".iter().copied());
        }
        self
    }
}

fn is_hop_by_hop(name: &str, connection_tokens: &[String]) -> bool {
    HOP_BY_HOP.iter().any(|h| name.eq_ignore_ascii_case(h)) || connection_tokens.iter().any(|t| name.eq_ignore_ascii_case(t))
}

fn put_header(head: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    head.extend_from_slice(name);
    head.extend_from_slice(b": ");
    head.extend_from_slice(value);
    head.extend_from_slice(b"\r\n");
}

/// Digits only (RFC 9110 §8.6), at most 19 of them.
fn content_length(value: &[u8]) -> Option<u64> {
    let digits = value.trim_ascii();
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// The last transfer coding a `Transfer-Encoding` value lists.
fn last_coding(value: &[u8]) -> &[u8] {
    value.rsplit(|b| *b == b',').next().unwrap_or(value).trim_ascii()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(token: Option<&str>) -> Option<&str> {
        token
    }

    fn forwarded(raw: &[u8], token: &Option<&str>) -> Option<(String, Framing, bool)> {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        assert!(req.parse(raw).unwrap().is_complete());
        match classify(&req, &Gate { token: *token, peer: "127.0.0.9".parse().unwrap() }) {
            Lane::Forward(f) => Some((String::from_utf8(f.head).unwrap(), f.body, f.close)),
            Lane::General => None,
        }
    }

    #[test]
    fn a_service_request_is_sent_on_with_its_path_and_the_forwarding_headers() {
        let raw = b"GET /svc/web/a/b?q=1 HTTP/1.1\r\nHost: 127.0.0.1:9000\r\nX-Forwarded-For: 10.0.0.1\r\nAccept: */*\r\nX-Forwarded-Proto: https\r\n\r\n";
        let (head, body, close) = forwarded(raw, &auth(None)).expect("forwarded");
        assert_eq!(
            head,
            "GET /a/b?q=1 HTTP/1.1\r\nHost: 127.0.0.1:9000\r\nAccept: */*\r\nx-forwarded-for: 10.0.0.1, 127.0.0.9\r\n\
             x-forwarded-host: 127.0.0.1:9000\r\nx-forwarded-proto: http\r\nx-forwarded-prefix: /svc/web\r\n\r\n"
        );
        assert_eq!((body, close), (Framing::Empty, false));
        let (head, ..) = forwarded(b"GET /svc/web HTTP/1.1\r\nHost: localhost\r\n\r\n", &auth(None)).unwrap();
        assert!(head.starts_with("GET / HTTP/1.1\r\n"), "{head}");
    }

    #[test]
    fn hop_by_hop_headers_and_the_ones_connection_names_stay_behind() {
        let raw = b"POST /svc/web/ HTTP/1.1\r\nHost: localhost\r\nConnection: close, X-Private\r\nX-Private: 1\r\nKeep-Alive: 5\r\nTE: trailers\r\nContent-Length: 3\r\n\r\n";
        let (head, body, close) = forwarded(raw, &auth(None)).unwrap();
        assert!(!head.to_ascii_lowercase().contains("private") && !head.contains("Keep-Alive") && !head.contains("TE:"), "{head}");
        assert!(head.contains("Content-Length: 3\r\n"));
        assert_eq!((body, close), (Framing::Length(3), true));
        let (head, body, _) = forwarded(b"POST /svc/web/ HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n", &auth(None)).unwrap();
        assert!(head.contains("Transfer-Encoding: chunked\r\n"), "chunked bodies pass as they are: {head}");
        assert_eq!(body, Framing::Chunked);
    }

    #[test]
    fn the_server_token_admits_and_is_not_passed_on() {
        let token = auth(Some("s3cret"));
        let (head, ..) = forwarded(b"GET /svc/web/ HTTP/1.1\r\nHost: example.com\r\nAuthorization: Bearer s3cret\r\n\r\n", &token).unwrap();
        assert!(!head.contains("s3cret"), "{head}");
        assert_eq!(forwarded(b"GET /svc/web/ HTTP/1.1\r\nAuthorization: Bearer wrong\r\n\r\n", &token), None);
        assert_eq!(forwarded(b"GET /svc/web/ HTTP/1.1\r\n\r\n", &token), None);
        let signed = b"GET /svc/web/ HTTP/1.1\r\nAuthorization: AWS4-HMAC-SHA256 Credential=AKIA/x\r\n\r\n";
        assert_eq!(forwarded(signed, &token), None, "a signature is verified by the general server");
    }

    #[test]
    fn whatever_needs_more_than_the_head_goes_to_the_general_server() {
        let open = auth(None);
        for raw in [
            &b"GET /v1/services HTTP/1.1\r\nHost: localhost\r\n\r\n"[..],
            b"GET /svc/web/ HTTP/1.0\r\nHost: localhost\r\n\r\n",
            b"GET /svc/web/ HTTP/1.1\r\nHost: evil.example\r\n\r\n",
            b"GET /svc/web/ HTTP/1.1\r\nHost: localhost\r\nOrigin: http://evil.example\r\n\r\n",
            b"GET /svc/web/ HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
            b"POST /svc/web/ HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
            b"POST /svc/web/ HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"POST /svc/web/ HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            b"POST /svc/web/ HTTP/1.1\r\nHost: localhost\r\nContent-Length: +1\r\n\r\n",
            b"POST /svc/web/ HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            b"GET /svc/web/ HTTP/1.1\r\nHost: localhost\r\nx-skiff-forwarded-by: n2\r\n\r\n",
        ] {
            assert_eq!(forwarded(raw, &open), None, "{}", String::from_utf8_lossy(raw));
        }
    }

    const DATE: &str = "Fri, 04 Dec 2026 23:00:00 GMT";

    fn answered(raw: &[u8], head_only: bool) -> Result<Answer, AnswerError> {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut resp = httparse::Response::new(&mut headers);
        assert!(resp.parse(raw).unwrap().is_complete());
        answer(&resp, head_only, DATE)
    }

    #[test]
    fn an_answer_keeps_its_framing_and_loses_its_connection_headers() {
        let a = answered(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nX-App: 1\r\n\r\n", false).unwrap();
        assert_eq!(String::from_utf8(a.head).unwrap(), format!("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-App: 1\r\ndate: {DATE}\r\n\r\n"));
        let dated = answered(b"HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Length: 0\r\n\r\n", false).unwrap();
        assert_eq!(String::from_utf8(dated.head).unwrap().matches("ate: ").count(), 1, "the copy's own Date is kept");
        assert_eq!((a.body, a.interim, a.copy_closes), (Framing::Length(5), false, false));
        let a = answered(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n", false).unwrap();
        assert_eq!((a.body, a.copy_closes), (Framing::Chunked, true));
        assert_eq!(answered(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true).unwrap().body, Framing::Empty);
        assert_eq!(answered(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n", false).unwrap().body, Framing::Empty);
        assert!(answered(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", false).unwrap().interim);
    }

    #[test]
    fn an_answer_without_length_ends_with_its_connection_and_says_so() {
        let a = answered(b"HTTP/1.0 200 OK\r\nX-App: 1\r\n\r\n", false).unwrap();
        assert_eq!((a.body, a.copy_closes), (Framing::UntilClose, true));
        assert!(String::from_utf8(a.head).unwrap().ends_with(&format!("date: {DATE}\r\nconnection: close\r\n\r\n")));
        assert_eq!(answered(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", false).unwrap().body, Framing::UntilClose);
    }

    #[test]
    fn a_closing_answer_says_so_once() {
        let closing = |raw: &[u8]| String::from_utf8(answered(raw, false).unwrap().closing().head).unwrap();
        assert_eq!(
            closing(b"HTTP/1.1 413 Too Large\r\nContent-Length: 0\r\n\r\n"),
            format!("HTTP/1.1 413 Too Large\r\nContent-Length: 0\r\ndate: {DATE}\r\nconnection: close\r\n\r\n")
        );
        assert_eq!(closing(b"HTTP/1.0 200 OK\r\n\r\n").matches("connection: close").count(), 1);
    }

    #[test]
    fn an_answer_that_cannot_be_framed_is_refused() {
        assert_eq!(answered(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", false), Err(AnswerError::BadLength));
        assert_eq!(answered(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", false), Err(AnswerError::BadLength));
        assert_eq!(answered(b"HTTP/1.1 101 Switching Protocols\r\n\r\n", false), Err(AnswerError::UnaskedUpgrade));
    }
}
