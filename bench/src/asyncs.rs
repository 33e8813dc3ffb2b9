//! Async end to end: events accepted by the gateway (HTTP, publish with confirm, 202), consumed,
//! run on a no-op Wasm function and acked — against raw lapin publishing and consuming with the
//! same durability (quorum queue, persistent messages, a confirm awaited per message, manual
//! acks, the same prefetch) on the same broker in the same run. Then latency at half the
//! measured rate, open loop: Skiff from sending the event to receiving its completion callback;
//! raw lapin from publishing to the consumer receiving it.

use crate::load::{self, ms};
use crate::server::Skiff;
use anyhow::{bail, Context};
use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// In-flight publishers (HTTP connections for Skiff, confirm-awaiting tasks for lapin);
/// `SKIFF_BENCH_PUBLISHERS` overrides.
fn publishers() -> usize {
    std::env::var("SKIFF_BENCH_PUBLISHERS").ok().and_then(|v| v.parse().ok()).unwrap_or(32)
}
/// The function's concurrency, which is Skiff's prefetch; the baseline consumer uses the same.
const PREFETCH: u16 = 64;
const ROUNDS: usize = 3;

pub async fn run(phase: Duration) -> anyhow::Result<()> {
    let url = std::env::var("SKIFF_BENCH_AMQP").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
    println!("== async end to end: publish, consume, invoke no-op Wasm, ack ({} publishers, prefetch {PREFETCH}) ==", publishers());
    // Interleaved rounds: this machine's speed drifts between runs, so each ratio compares
    // neighbours, and the median ratio is reported.
    let rabbit = Skiff::start_with(&["--amqp-url", &url])?;
    let mut ratios = Vec::new();
    let mut skiff = 0.0;
    for round in 1..=ROUNDS {
        let raw = raw_throughput(&url, phase).await.context("raw lapin baseline (is RabbitMQ running?)")?;
        skiff = skiff_throughput(&rabbit, phase).await?;
        println!(
            "round {round}: raw lapin (quorum, persistent, confirm, manual ack) {raw:>7.0} msg/s | skiff + RabbitMQ (gateway, no-op Wasm, status) {skiff:>7.0} events/s | {:.2}x",
            skiff / raw
        );
        ratios.push(skiff / raw);
    }
    ratios.sort_by(f64::total_cmp);
    println!("median ratio {:.2}x (target >= 0.80)", ratios[ratios.len() / 2]);
    let raw = skiff / ratios[ratios.len() / 2];
    let embedded = Skiff::start()?;
    let local = skiff_throughput(&embedded, phase).await?;
    println!("skiff + embedded queue (fsync'd group commits):       {:>8.0} events/s  ({:.2}x the raw RabbitMQ rate)", local, local / raw);

    let rate = skiff / 2.0;
    println!("-- latency at {rate:.0}/s (half Skiff's RabbitMQ rate), open loop --");
    let l = raw_latency(&url, rate, phase).await?;
    println!("raw lapin publish -> consumer receives:        p50 {}  p99 {}  ({} msgs)", ms(pct(&l, 0.5)), ms(pct(&l, 0.99)), l.len());
    let l = skiff_latency(&rabbit, rate, phase).await?;
    println!("skiff event sent -> invoked -> callback recv:  p50 {}  p99 {}  ({} events)", ms(pct(&l, 0.5)), ms(pct(&l, 0.99)), l.len());
    let l = skiff_latency(&embedded, rate, phase).await?;
    println!("  same on the embedded queue:                  p50 {}  p99 {}  ({} events)", ms(pct(&l, 0.5)), ms(pct(&l, 0.99)), l.len());
    Ok(())
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn connect(url: &str) -> anyhow::Result<Connection> {
    Ok(Connection::connect(url, ConnectionProperties::default()).await?)
}

/// A fresh quorum queue for one baseline run.
async fn quorum_queue(ch: &Channel) -> anyhow::Result<String> {
    let name = format!("bench.raw.{}", uuid::Uuid::new_v4().simple());
    let mut args = FieldTable::default();
    args.insert("x-queue-type".into(), AMQPValue::LongString("quorum".into()));
    ch.queue_declare(name.as_str().into(), QueueDeclareOptions { durable: true, ..Default::default() }, args).await?;
    Ok(name)
}

async fn publish(ch: &Channel, queue: &str, id: &str) -> anyhow::Result<()> {
    let props = BasicProperties::default().with_delivery_mode(2).with_message_id(id.into());
    let confirm = ch.basic_publish("".into(), queue.into(), BasicPublishOptions::default(), b"{}", props).await?.await?;
    if !confirm.is_ack() {
        bail!("nacked");
    }
    Ok(())
}

/// Acks everything on `queue`, calling `seen` with each message id.
async fn consume(conn: &Connection, queue: &str, seen: impl Fn(&str) + Send + 'static) -> anyhow::Result<Channel> {
    let ch = conn.create_channel().await?;
    ch.basic_qos(PREFETCH, BasicQosOptions::default()).await?;
    let mut consumer = ch.basic_consume(queue.into(), "".into(), BasicConsumeOptions::default(), FieldTable::default()).await?;
    tokio::spawn(async move {
        while let Some(Ok(d)) = consumer.next().await {
            seen(d.properties.message_id().as_ref().map_or("", |s| s.as_str()));
            let _ = d.acker.ack(BasicAckOptions::default()).await;
        }
    });
    Ok(ch)
}

/// Ends a baseline run: the consumer's channel first, then its queue.
async fn finish(publisher: &Channel, consumer: Channel, queue: &str) -> anyhow::Result<()> {
    consumer.close(200, "done".into()).await?;
    publisher.queue_delete(queue.into(), QueueDeleteOptions::default()).await?;
    Ok(())
}

async fn raw_throughput(url: &str, phase: Duration) -> anyhow::Result<f64> {
    let conn = connect(url).await?;
    let ch = conn.create_channel().await?;
    ch.confirm_select(ConfirmSelectOptions::default()).await?;
    let queue = quorum_queue(&ch).await?;
    let consumed = Arc::new(AtomicUsize::new(0));
    let counter = consumed.clone();
    let consumer = consume(&conn, &queue, move |_| {
        counter.fetch_add(1, Ordering::Relaxed);
    })
    .await?;
    let meter = crate::cpu::Meter::start();
    let started = Instant::now();
    let deadline = started + phase;
    let mut tasks = Vec::new();
    for _ in 0..publishers() {
        let (ch, queue) = (ch.clone(), queue.clone());
        tasks.push(tokio::spawn(async move {
            let mut sent = 0usize;
            while Instant::now() < deadline {
                publish(&ch, &queue, "m").await?;
                sent += 1;
            }
            anyhow::Ok(sent)
        }));
    }
    let mut sent = 0;
    for p in tasks {
        sent += p.await??;
    }
    wait_until(Duration::from_secs(60), || consumed.load(Ordering::Relaxed) >= sent).await?;
    let rate = sent as f64 / started.elapsed().as_secs_f64();
    println!("    raw: CPU per message {}", meter.per_message(sent));
    finish(&ch, consumer, &queue).await?;
    Ok(rate)
}

async fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    while !done() {
        if Instant::now() > deadline {
            bail!("not done in {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(())
}

async fn invocations(skiff: &Skiff, function: &str) -> anyhow::Result<usize> {
    let text = reqwest::get(format!("http://{}/metrics", skiff.addr())).await?.text().await?;
    let series = format!("skiff_invocations_total{{function=\"{function}\",outcome=\"success\"}} ");
    Ok(text.lines().find_map(|l| l.strip_prefix(series.as_str())).map_or(0, |v| v.trim().parse::<f64>().unwrap_or(0.0) as usize))
}

async fn skiff_throughput(skiff: &Skiff, phase: Duration) -> anyhow::Result<f64> {
    let function = format!("noop{}", uuid::Uuid::new_v4().simple());
    skiff.deploy_with(&function, "noop", serde_json::json!({ "concurrency": PREFETCH })).await?;
    let meter = crate::cpu::Meter::start();
    let started = Instant::now();
    let result = load::run(&skiff.addr(), &format!("/v1/functions/{function}/events"), b"{}", publishers(), phase).await?;
    if result.errors > 0 {
        bail!("{} events refused", result.errors);
    }
    let sent = result.requests;
    let deadline = Instant::now() + Duration::from_secs(120);
    while invocations(skiff, &function).await? < sent {
        if Instant::now() > deadline {
            bail!("events not all processed in time");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let rate = sent as f64 / started.elapsed().as_secs_f64();
    println!("    skiff: CPU per event {}; 202 p50 {} p99 {}", meter.per_message(sent), ms(result.percentile(0.5)), ms(result.percentile(0.99)),);
    Ok(rate)
}

/// Sends at `rate` per second for `phase` (open loop: each send is scheduled, not waiting for
/// the previous), with a callback to a local receiver; returns sorted send-to-callback times.
async fn skiff_latency(skiff: &Skiff, rate: f64, phase: Duration) -> anyhow::Result<Vec<Duration>> {
    let function = format!("noop{}", uuid::Uuid::new_v4().simple());
    skiff.deploy_with(&function, "noop", serde_json::json!({ "concurrency": PREFETCH })).await?;
    let arrivals: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let callback = callback_receiver(arrivals.clone()).await?;
    let client = reqwest::Client::new();
    let url = format!("http://{}/v1/functions/{function}/events", skiff.addr());
    let sends = open_loop(rate, phase, move |_| {
        let (client, url, callback) = (client.clone(), url.clone(), callback.clone());
        async move {
            let sent = Instant::now();
            let resp = client.post(&url).header("x-callback-url", &callback).body("{}").send().await.ok()?;
            let body: serde_json::Value = resp.json().await.ok()?;
            Some((body["request_id"].as_str()?.to_string(), sent))
        }
    })
    .await;
    arrived_after(&sends, &arrivals).await
}

async fn raw_latency(url: &str, rate: f64, phase: Duration) -> anyhow::Result<Vec<Duration>> {
    let conn = connect(url).await?;
    let ch = conn.create_channel().await?;
    ch.confirm_select(ConfirmSelectOptions::default()).await?;
    let queue = quorum_queue(&ch).await?;
    let arrivals: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let seen = arrivals.clone();
    let consumer = consume(&conn, &queue, move |id| {
        seen.lock().unwrap().insert(id.to_string(), Instant::now());
    })
    .await?;
    let (q, publisher) = (queue.clone(), ch.clone());
    let sends = open_loop(rate, phase, move |i| {
        let (ch, queue) = (ch.clone(), q.clone());
        async move {
            let id = i.to_string();
            let sent = Instant::now();
            publish(&ch, &queue, &id).await.ok()?;
            Some((id, sent))
        }
    })
    .await;
    let latencies = arrived_after(&sends, &arrivals).await;
    finish(&publisher, consumer, &queue).await?;
    latencies
}

/// Waits until every send has arrived; returns the sorted send-to-arrival times.
async fn arrived_after(sends: &[(String, Instant)], arrivals: &Mutex<HashMap<String, Instant>>) -> anyhow::Result<Vec<Duration>> {
    wait_until(Duration::from_secs(60), || arrivals.lock().unwrap().len() >= sends.len()).await?;
    let arrivals = arrivals.lock().unwrap();
    let mut latencies: Vec<Duration> = sends.iter().filter_map(|(id, sent)| arrivals.get(id).map(|a| *a - *sent)).collect();
    latencies.sort();
    Ok(latencies)
}

/// Starts `send(i)` every 1/rate seconds for `phase`; returns what the sends returned.
async fn open_loop<F, Fut>(rate: f64, phase: Duration, send: F) -> Vec<(String, Instant)>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Option<(String, Instant)>> + Send + 'static,
{
    let interval = Duration::from_secs_f64(1.0 / rate.max(1.0));
    let count = (phase.as_secs_f64() * rate) as usize;
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(count);
    for i in 0..count {
        tokio::time::sleep_until(start + interval.mul_f64(i as f64)).await;
        tasks.push(tokio::spawn(send(i)));
    }
    let mut out = Vec::with_capacity(count);
    for t in tasks {
        if let Ok(Some(sent)) = t.await {
            out.push(sent);
        }
    }
    out
}

/// A loopback HTTP server recording when each request id's callback arrived; returns its URL.
async fn callback_receiver(arrivals: Arc<Mutex<HashMap<String, Instant>>>) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/cb", listener.local_addr()?);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let arrivals = arrivals.clone();
            let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let arrived = Instant::now();
                let id = req.headers().get("x-skiff-request-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
                arrivals.lock().unwrap().insert(id, arrived);
                async { Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::new()))) }
            });
            tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service));
        }
    });
    Ok(url)
}
