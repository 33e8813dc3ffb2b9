//! One live connection to RabbitMQ and what was declared on it, and the supervisor that keeps
//! one up.

use super::names::Namespace;
use crate::queue::{QueueError, QueueKind, QueueRef};
use dashmap::DashSet;
use futures_util::StreamExt;
use lapin::options::{ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

pub(super) type Result<T> = std::result::Result<T, QueueError>;

pub(super) fn unavailable(e: impl std::fmt::Display) -> QueueError {
    QueueError::Unavailable(e.to_string())
}

/// The connection as everyone else sees it: the current link, if any, kept up by
/// [`supervise`] until [`Connector::shutdown`].
///
/// `uris` are the nodes of one RabbitMQ cluster: any of them serves every queue (quorum queues
/// are replicated), so a lost connection is re-made to the next node in turn, and a node that
/// refuses is skipped without waiting out the backoff.
pub(super) struct Connector {
    uris: Vec<String>,
    pub(super) names: Arc<Namespace>,
    link: watch::Sender<Option<Arc<Link>>>,
    closed: AtomicBool,
}

impl Connector {
    /// `uris`: one AMQP URL, or several nodes of one cluster separated by commas.
    pub(super) fn start(uris: &str, names: Namespace) -> Result<Arc<Self>> {
        let uris = parse_uris(uris)?;
        let connector = Arc::new(Self { uris, names: Arc::new(names), link: watch::channel(None).0, closed: AtomicBool::new(false) });
        tokio::spawn(supervise(connector.clone()));
        Ok(connector)
    }

    pub(super) fn link(&self) -> Result<Arc<Link>> {
        self.link.borrow().clone().ok_or_else(|| unavailable("not connected to RabbitMQ"))
    }

    /// Waits until there is a connection (or the broker is closed: `None`).
    pub(super) async fn wait_link(&self) -> Option<Arc<Link>> {
        let mut rx = self.link.subscribe();
        loop {
            if self.closed.load(Ordering::Acquire) {
                return None;
            }
            if let Some(link) = rx.borrow_and_update().clone() {
                return Some(link);
            }
            if rx.changed().await.is_err() {
                return None;
            }
        }
    }

    /// Waits up to `limit` for the first connection; false if there is none by then.
    pub(super) async fn wait_connected(&self, limit: Duration) -> bool {
        tokio::time::timeout(limit, self.wait_link()).await.is_ok_and(|l| l.is_some())
    }

    pub(super) async fn shutdown(&self) {
        self.closed.store(true, Ordering::Release);
        if let Some(link) = self.link.send_replace(None) {
            let _ = link.conn.close(200, "skiff shutting down".into()).await;
        }
    }
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
pub(super) const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// One live connection and what was declared on it. Declarations are remembered in sets read
/// without a lock on every publish; the async mutexes are taken only to declare something new,
/// so publishes to declared queues never wait behind another queue's declaration round trip.
pub(super) struct Link {
    names: Arc<Namespace>,
    pub(super) conn: Connection,
    pub(super) publisher: Channel,
    declared: DashSet<QueueRef>,
    declaring: tokio::sync::Mutex<()>,
    delays: DashSet<u64>,
    declaring_delays: tokio::sync::Mutex<()>,
}

/// Keeps a connection up: connects with backoff, publishes it, waits for it to fail, repeats.
async fn supervise(inner: Arc<Connector>) {
    let mut backoff = Duration::from_millis(100);
    let mut next = 0;
    while !inner.closed.load(Ordering::Acquire) {
        let uri = &inner.uris[next % inner.uris.len()];
        next += 1;
        match tokio::time::timeout(CONNECT_TIMEOUT, connect(uri, inner.names.clone())).await {
            Ok(Ok(link)) => {
                backoff = Duration::from_millis(100);
                let link = Arc::new(link);
                let mut events = link.conn.events_listener();
                inner.link.send_replace(Some(link.clone()));
                tracing::info!(node = %redacted(uri), "connected to RabbitMQ");
                let mut poll = tokio::time::interval(Duration::from_secs(1));
                loop {
                    tokio::select! {
                        event = events.next() => match event {
                            // Channel errors (a refused declaration) arrive here too; only a
                            // connection that is no longer up ends this link.
                            Some(lapin::Event::Error(e)) if !link.conn.status().connected() => {
                                tracing::warn!("RabbitMQ connection lost: {e}");
                                break;
                            }
                            Some(lapin::Event::Error(e)) => tracing::debug!("RabbitMQ error: {e}"),
                            None => break,
                            Some(_) => {}
                        },
                        _ = poll.tick() => if !link.conn.status().connected() || inner.closed.load(Ordering::Acquire) { break },
                    }
                }
                // Only clear the link if it is still ours (close() may have taken it).
                inner.link.send_if_modified(|current| match current {
                    Some(l) if Arc::ptr_eq(l, &link) => {
                        *current = None;
                        true
                    }
                    _ => false,
                });
            }
            Ok(Err(e)) => tracing::warn!(node = %redacted(uri), "cannot connect to RabbitMQ: {e}"),
            Err(_) => tracing::warn!(node = %redacted(uri), "cannot connect to RabbitMQ: timed out"),
        }
        if inner.closed.load(Ordering::Acquire) {
            return;
        }
        // Another node of the cluster is tried at once; the backoff applies per round.
        if next % inner.uris.len() != 0 {
            continue;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Splits and checks a comma-separated list of AMQP URLs.
fn parse_uris(list: &str) -> Result<Vec<String>> {
    let uris: Vec<String> = list.split(',').map(str::trim).filter(|u| !u.is_empty()).map(String::from).collect();
    if uris.is_empty() {
        return Err(QueueError::Refused("no AMQP URL given".into()));
    }
    for uri in &uris {
        uri.parse::<lapin::uri::AMQPUri>().map_err(|e| QueueError::Refused(format!("invalid AMQP URL {:?}: {e}", redacted(uri))))?;
    }
    Ok(uris)
}

/// The URL without its credentials, for logs and errors.
fn redacted(uri: &str) -> String {
    match (uri.find("://"), uri.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}{}", &uri[..scheme + 3], &uri[at + 1..]),
        _ => uri.to_string(),
    }
}

async fn connect(uri: &str, names: Arc<Namespace>) -> Result<Link> {
    let properties = ConnectionProperties::default().with_connection_name("skiff".into());
    let conn = Connection::connect(uri, properties).await.map_err(unavailable)?;
    let publisher = conn.create_channel().await.map_err(unavailable)?;
    let durable = ExchangeDeclareOptions { durable: true, ..Default::default() };
    for exchange in [names.events_exchange(), names.delay_exchange()] {
        publisher.exchange_declare(exchange.as_str().into(), ExchangeKind::Topic, durable, FieldTable::default()).await.map_err(unavailable)?;
    }
    publisher.confirm_select(ConfirmSelectOptions::default()).await.map_err(unavailable)?;
    Ok(Link {
        names,
        conn,
        publisher,
        declared: DashSet::new(),
        declaring: tokio::sync::Mutex::new(()),
        delays: DashSet::new(),
        declaring_delays: tokio::sync::Mutex::new(()),
    })
}

impl Link {
    /// A publishing channel the broker closed (it should not happen: only the default and
    /// Skiff's own exchanges are used) would fail every publish; close the connection so the
    /// supervisor makes a fresh one.
    pub(super) fn check_publisher(link: &Arc<Link>) {
        if link.conn.status().connected() && !link.publisher.status().connected() {
            tracing::warn!("publishing channel closed; reconnecting");
            let link = link.clone();
            tokio::spawn(async move { link.conn.close(320, "reconnecting".into()).await });
        }
    }

    /// Declares `queue` once per connection, on a channel of its own: a refused declaration
    /// (a user queue with other arguments, a missing exchange) closes that channel only.
    pub(super) async fn ensure(&self, queue: &QueueRef) -> Result<()> {
        if self.declared.contains(queue) {
            return Ok(());
        }
        let _declaring = self.declaring.lock().await;
        if self.declared.contains(queue) {
            return Ok(());
        }
        let channel = self.conn.create_channel().await.map_err(unavailable)?;
        let durable = QueueDeclareOptions { durable: true, ..Default::default() };
        let name = queue.name.as_str();
        let refused = |what: &str, e: lapin::Error| match named_wrongly(&e) {
            true => QueueError::Mismatch(format!("{what}: {e}")),
            false => QueueError::Refused(format!("{what}: {e}")),
        };
        let channel = match &queue.kind {
            QueueKind::Work => {
                let args = table(&[("x-queue-type", AMQPValue::LongString("quorum".into()))]);
                channel.queue_declare(name.into(), durable, args).await.map_err(|e| refused(name, e))?;
                channel
            }
            QueueKind::DeadLetter => {
                channel.queue_declare(name.into(), durable, FieldTable::default()).await.map_err(|e| refused(name, e))?;
                channel
            }
            QueueKind::External { bind } => {
                let passive = QueueDeclareOptions { passive: true, ..Default::default() };
                let channel = if channel.queue_declare(name.into(), passive, FieldTable::default()).await.is_ok() {
                    channel
                } else {
                    // Not there (the failed passive declare closed that channel): create it.
                    let fresh = self.conn.create_channel().await.map_err(unavailable)?;
                    fresh.queue_declare(name.into(), durable, FieldTable::default()).await.map_err(|e| refused(name, e))?;
                    fresh
                };
                if let Some((exchange, key)) = bind {
                    channel
                        .queue_bind(name.into(), exchange.as_str().into(), key.as_str().into(), QueueBindOptions::default(), FieldTable::default())
                        .await
                        .map_err(|e| refused(&format!("binding {name} to exchange {exchange:?}"), e))?;
                }
                channel
            }
        };
        self.bind_for_delays(&channel, queue).await?;
        let _ = channel.close(200, "declared".into()).await;
        self.declared.insert(queue.clone());
        Ok(())
    }

    async fn bind_for_delays(&self, channel: &Channel, queue: &QueueRef) -> Result<()> {
        let key = format!("*.{}", queue.key);
        channel
            .queue_bind(
                queue.name.as_str().into(),
                self.names.events_exchange().as_str().into(),
                key.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(unavailable)
    }

    pub(super) async fn ensure_delay(&self, bucket: u64) -> Result<()> {
        if self.delays.contains(&bucket) {
            return Ok(());
        }
        let _declaring = self.declaring_delays.lock().await;
        if self.delays.contains(&bucket) {
            return Ok(());
        }
        let channel = self.conn.create_channel().await.map_err(unavailable)?;
        let name = self.names.delay_queue(bucket);
        let args = table(&[
            ("x-queue-type", AMQPValue::LongString("quorum".into())),
            ("x-dead-letter-exchange", AMQPValue::LongString(self.names.events_exchange().into())),
            ("x-dead-letter-strategy", AMQPValue::LongString("at-least-once".into())),
            ("x-overflow", AMQPValue::LongString("reject-publish".into())),
        ]);
        let durable = QueueDeclareOptions { durable: true, ..Default::default() };
        channel.queue_declare(name.as_str().into(), durable, args).await.map_err(|e| QueueError::Refused(format!("{name}: {e}")))?;
        let key = format!("{bucket}.#");
        channel
            .queue_bind(
                name.as_str().into(),
                self.names.delay_exchange().as_str().into(),
                key.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(unavailable)?;
        let _ = channel.close(200, "declared".into()).await;
        self.delays.insert(bucket);
        Ok(())
    }
}

fn table(entries: &[(&str, AMQPValue)]) -> FieldTable {
    let mut t = FieldTable::default();
    for (k, v) in entries {
        t.insert((*k).into(), v.clone());
    }
    t
}

/// Whether the broker refused a declaration because of what it names (NOT_FOUND: no such
/// exchange; PRECONDITION_FAILED: the queue exists with other arguments), not because of us.
fn named_wrongly(e: &lapin::Error) -> bool {
    use lapin::protocol::{AMQPErrorKind, AMQPSoftError};
    match e.kind() {
        lapin::ErrorKind::ProtocolError(amqp) => {
            matches!(amqp.kind(), AMQPErrorKind::Soft(AMQPSoftError::NOTFOUND | AMQPSoftError::PRECONDITIONFAILED))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_names_each_node_and_refuses_a_bad_one_by_its_redacted_url() {
        let uris = parse_uris("amqp://u:p@127.0.0.1:5672/%2f, amqp://127.0.0.1:5673/%2f").unwrap();
        assert_eq!(uris, ["amqp://u:p@127.0.0.1:5672/%2f", "amqp://127.0.0.1:5673/%2f"]);
        let e = parse_uris("amqp://u:secret@127.0.0.1:5672/%2f,http://x").unwrap_err().to_string();
        assert!(e.contains("http://x") && !e.contains("secret"), "{e}");
        assert!(parse_uris(" , ").is_err());
        assert_eq!(redacted("amqp://u:secret@h:1/v"), "amqp://h:1/v");
    }
}
