//! An example Skiff service: a small HTTP/1.1 server with keep-alive, one thread per connection,
//! standard library only (so it links statically and runs FROM scratch).
//!
//! Routes, all answering JSON that names the instance (its hostname) and `VERSION`:
//! - `GET /` — a greeting (`GREETING`);
//! - `GET /healthz` — 200, or 500 once `/unhealthy` was called or when `HEALTHY=false`;
//! - `POST /unhealthy` — from now on this instance fails its health check;
//! - `POST /crash` — answers, then exits with status 3;
//! - `GET /sleep?ms=N` — answers after N ms (in-flight load, timeouts);
//! - `POST /echo` — streams the request body back as it arrives (chunked);
//! - `GET /headers` — the request's headers as a JSON object (names lowercased);
//! - `GET /connection` — which TCP connection (numbered from 1 per instance) carried the request.
//!
//! - `GET /fetch?port=N&path=P` — GETs `http://127.0.0.1:N/P` and answers its status and body
//!   (a sidecar reached over localhost).
//!
//! Other modes, for one-off tasks and container health checks (the image has no shell):
//! - `hello-service exit CODE [MESSAGE]` — prints MESSAGE and exits with CODE;
//! - `hello-service sleep MS` — sleeps, then exits 0;
//! - `hello-service probe PORT` — exits 0 if `GET /healthz` on localhost:PORT answers 200.
//!
//! Listens on `PORT` (default 8080). With `IDLE_TIMEOUT_MS`, a keep-alive connection idle that long
//! between requests is closed, as many servers do. SIGTERM exits at once: Skiff drains an instance before it
//! stops it, so nothing is in flight by then.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

struct App {
    instance: String,
    version: String,
    greeting: String,
    unhealthy: AtomicBool,
    idle_timeout: Option<Duration>,
}

static CONNECTIONS: AtomicU64 = AtomicU64::new(0);

extern "C" {
    fn signal(signum: i32, handler: extern "C" fn(i32)) -> usize;
    fn _exit(status: i32) -> !;
}

extern "C" fn on_term(_: i32) {
    unsafe { _exit(0) }
}

fn main() {
    unsafe {
        signal(15, on_term); // SIGTERM
        signal(2, on_term); // SIGINT
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("exit") => {
            println!("{}", args.get(2).map_or("exiting", String::as_str));
            std::process::exit(args.get(1).and_then(|c| c.parse().ok()).unwrap_or(0));
        }
        Some("sleep") => {
            println!("sleeping");
            std::thread::sleep(Duration::from_millis(args.get(1).and_then(|m| m.parse().ok()).unwrap_or(1000)));
            return;
        }
        Some("probe") => {
            let port: u16 = args.get(1).and_then(|p| p.parse().ok()).unwrap_or(8080);
            let ok = get_local(port, "/healthz").is_ok_and(|(status, _)| status == 200);
            std::process::exit(if ok { 0 } else { 1 });
        }
        _ => {}
    }
    let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
    let app = Arc::new(App {
        instance: env("HOSTNAME", "local"),
        version: env("VERSION", "1"),
        greeting: env("GREETING", "hello"),
        unhealthy: AtomicBool::new(env("HEALTHY", "true") == "false"),
        idle_timeout: std::env::var("IDLE_TIMEOUT_MS").ok().and_then(|v| v.parse().ok()).map(Duration::from_millis),
    });
    let port = env("PORT", "8080");
    let listener = TcpListener::bind(format!("0.0.0.0:{port}")).expect("bind");
    eprintln!("hello-service {} version {} listening on :{port}", app.instance, app.version);
    for stream in listener.incoming().flatten() {
        let app = app.clone();
        std::thread::spawn(move || {
            let _ = serve(&app, stream);
        });
    }
}

struct Request {
    method: String,
    path: String,
    query: String,
    content_length: Option<usize>,
    chunked: bool,
    close: bool,
    headers: Vec<(String, String)>,
}

fn serve(app: &App, stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let connection = CONNECTIONS.fetch_add(1, Ordering::Relaxed) + 1;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = io::BufWriter::new(stream.try_clone()?);
    loop {
        if app.idle_timeout.is_some() {
            // Only the wait for the next request is timed (an error there closes the connection).
            stream.set_read_timeout(app.idle_timeout)?;
        }
        let Some(req) = read_head(&mut reader)? else { break };
        if app.idle_timeout.is_some() {
            stream.set_read_timeout(None)?;
        }
        let close = req.close;
        handle(app, connection, &req, &mut reader, &mut out)?;
        out.flush()?;
        if close {
            break;
        }
    }
    Ok(())
}

fn read_head(reader: &mut impl BufRead) -> io::Result<Option<Request>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "bad request line"));
    };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut req = Request {
        method: method.to_string(),
        path: path.to_string(),
        query: query.to_string(),
        content_length: None,
        chunked: false,
        close: parts.next() == Some("HTTP/1.0"),
        headers: Vec::new(),
    };
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let header = line.trim_end();
        if header.is_empty() {
            return Ok(Some(req));
        }
        let Some((name, value)) = header.split_once(':') else { continue };
        let value = value.trim();
        req.headers.push((name.to_ascii_lowercase(), value.to_string()));
        match name.to_ascii_lowercase().as_str() {
            "content-length" => req.content_length = value.parse().ok(),
            "transfer-encoding" => req.chunked = value.eq_ignore_ascii_case("chunked"),
            "connection" => req.close = value.eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
}

fn handle(app: &App, connection: u64, req: &Request, body: &mut impl BufRead, out: &mut impl Write) -> io::Result<()> {
    let me = |extra: &str| {
        format!(r#"{{"instance":"{}","version":"{}"{extra}}}"#, app.instance, app.version)
    };
    match (req.method.as_str(), req.path.as_str()) {
        ("POST", "/echo") => return echo(req, body, out),
        _ => drain(req, body)?,
    }
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/") => respond(out, 200, &me(&format!(r#","message":"{}""#, app.greeting))),
        ("GET", "/healthz") if app.unhealthy.load(Ordering::Relaxed) => respond(out, 500, &me(r#","healthy":false"#)),
        ("GET", "/healthz") => respond(out, 200, &me(r#","healthy":true"#)),
        ("GET", "/headers") => {
            let quote = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
            let fields: Vec<String> = req.headers.iter().map(|(k, v)| format!("{}:{}", quote(k), quote(v))).collect();
            respond(out, 200, &format!("{{{}}}", fields.join(",")))
        }
        ("POST", "/unhealthy") => {
            app.unhealthy.store(true, Ordering::Relaxed);
            respond(out, 200, &me(r#","healthy":false"#))
        }
        ("POST", "/crash") => {
            respond(out, 200, &me(r#","crashing":true"#))?;
            out.flush()?;
            std::process::exit(3);
        }
        ("GET", "/sleep") => {
            let ms = req.query.split('&').find_map(|kv| kv.strip_prefix("ms=")).and_then(|v| v.parse().ok()).unwrap_or(100);
            std::thread::sleep(Duration::from_millis(ms));
            respond(out, 200, &me(&format!(r#","slept_ms":{ms}"#)))
        }
        ("GET", "/fetch") => {
            let param = |name: &str| req.query.split('&').find_map(|kv| kv.strip_prefix(name)).map(str::to_string);
            let port = param("port=").and_then(|p| p.parse().ok()).unwrap_or(8080);
            let path = param("path=").unwrap_or_else(|| "/".into());
            match get_local(port, &path) {
                Ok((status, fetched)) => respond(out, 200, &me(&format!(r#","fetched_status":{status},"fetched":{fetched}"#))),
                Err(e) => respond(out, 502, &me(&format!(r#","error":"{}""#, e.to_string().replace('"', "'")))),
            }
        }
        ("GET", "/connection") => respond(out, 200, &me(&format!(r#","connection":{connection}"#))),
        _ => respond(out, 404, r#"{"error":"no such route"}"#),
    }
}

fn respond(out: &mut impl Write, status: u16, body: &str) -> io::Result<()> {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        _ => "Internal Server Error",
    };
    write!(out, "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}", body.len())
}

/// Reads and discards a request body we do not use, so the next request on the connection parses.
fn drain(req: &Request, body: &mut impl BufRead) -> io::Result<()> {
    copy_body(req, body, &mut |_| Ok(()))
}

fn echo(req: &Request, body: &mut impl BufRead, out: &mut impl Write) -> io::Result<()> {
    write!(out, "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ntransfer-encoding: chunked\r\n\r\n")?;
    out.flush()?;
    copy_body(req, body, &mut |chunk| {
        write!(out, "{:x}\r\n", chunk.len())?;
        out.write_all(chunk)?;
        out.write_all(b"\r\n")?;
        out.flush()
    })?;
    out.write_all(b"0\r\n\r\n")
}

/// Feeds the request body to `sink` piece by piece, as it arrives (Content-Length or chunked).
fn copy_body(req: &Request, body: &mut impl BufRead, sink: &mut dyn FnMut(&[u8]) -> io::Result<()>) -> io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut copy = |body: &mut dyn BufRead, mut left: usize| -> io::Result<()> {
        while left > 0 {
            let n = body.read(&mut buf[..left.min(64 * 1024)])?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            sink(&buf[..n])?;
            left -= n;
        }
        Ok(())
    };
    if !req.chunked {
        return copy(body, req.content_length.unwrap_or(0));
    }
    let mut line = String::new();
    loop {
        line.clear();
        body.read_line(&mut line)?;
        let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
        if size == 0 {
            // Trailers, then the blank line that ends the body.
            loop {
                line.clear();
                body.read_line(&mut line)?;
                if line.trim_end().is_empty() {
                    return Ok(());
                }
            }
        }
        copy(body, size)?;
        line.clear();
        body.read_line(&mut line)?;
    }
}

/// `GET path` on localhost:`port` over a fresh connection: the status and the body.
fn get_local(port: u16, path: &str) -> io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    write!(stream, "GET {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")?;
    let mut text = String::new();
    io::Read::read_to_string(&mut stream, &mut text)?;
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_string();
    Ok((status, body))
}
