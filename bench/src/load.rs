//! A closed-loop HTTP/1.1 load generator: `connections` keep-alive connections, each sending the
//! next request as soon as the previous answer is read, for a fixed time.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use std::time::{Duration, Instant};

pub struct LoadResult {
    pub requests: usize,
    pub errors: usize,
    pub elapsed: Duration,
    /// Sorted latencies.
    pub latencies: Vec<Duration>,
}

impl LoadResult {
    pub fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
    pub fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[i]
    }
}

pub async fn run(addr: &str, path: &str, body: &'static [u8], connections: usize, duration: Duration) -> anyhow::Result<LoadResult> {
    run_method(hyper::Method::POST, addr, path, body, connections, duration).await
}

pub async fn run_method(
    method: hyper::Method,
    addr: &str,
    path: &str,
    body: &'static [u8],
    connections: usize,
    duration: Duration,
) -> anyhow::Result<LoadResult> {
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let addr = addr.to_string();
        let path = path.to_string();
        let method = method.clone();
        tasks.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(&addr).await?;
            stream.set_nodelay(true)?;
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(conn);
            let mut latencies = Vec::new();
            let mut errors = 0usize;
            while Instant::now() < deadline {
                let req = Request::builder().method(method.clone()).uri(&path).header("host", &addr).body(Full::new(Bytes::from_static(body)))?;
                let t = Instant::now();
                let resp = sender.send_request(req).await?;
                let ok = resp.status().is_success();
                resp.into_body().collect().await?;
                latencies.push(t.elapsed());
                if !ok {
                    errors += 1;
                }
            }
            anyhow::Ok((latencies, errors))
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await??;
        latencies.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed();
    latencies.sort();
    Ok(LoadResult { requests: latencies.len(), errors, elapsed, latencies })
}

pub fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}
