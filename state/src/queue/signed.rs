//! Messages in Skiff's own queues carry a MAC made with a server key, and a delivery says
//! whether its MAC holds. Anyone who can reach the broker can publish into those queues; without
//! this they could make Skiff run events with their own callback URL or request id, or feed its
//! callback queue. The consumer of a delivery that is not authentic dead-letters it unrun.
//!
//! The MAC covers the message id and body (what Skiff acts on); headers Skiff itself adds on the
//! way (`x-skiff-error` when quarantining) are not covered. Messages of users' queues (trigger
//! sources, destinations) are neither signed nor checked: they are the users' to write.

use super::{Browsed, Consumer, Message, Queue, QueueBackend, QueueError, QueueKind, QueueRef, Rewrite, SharedQueue};
use async_trait::async_trait;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::sync::Arc;
use std::time::Duration;

/// The header holding a message's MAC (hex).
const MAC_HEADER: &str = "x-skiff-mac";

/// `inner`, signing what is published to Skiff's queues and checking what is consumed from them.
pub fn signed(inner: SharedQueue, key: [u8; 32]) -> SharedQueue {
    Arc::new(SignedQueue { inner, key: Arc::new(key) })
}

struct SignedQueue {
    inner: SharedQueue,
    key: Arc<[u8; 32]>,
}

fn is_owned(queue: &QueueRef) -> bool {
    !matches!(queue.kind, QueueKind::External { .. })
}

/// The MAC of `message` under `key`, not yet finalized.
fn keyed(key: &[u8; 32], message: &Message) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(&(message.id.len() as u64).to_be_bytes());
    mac.update(message.id.as_bytes());
    mac.update(&message.body);
    mac
}

fn mac(key: &[u8; 32], message: &Message) -> String {
    hex::encode(keyed(key, message).finalize().into_bytes())
}

fn sign(key: &[u8; 32], message: &Message) -> Message {
    let mut signed = message.clone();
    signed.headers.insert(MAC_HEADER.into(), mac(key, message).into());
    signed
}

fn verify(key: &[u8; 32], message: &Message) -> bool {
    let Some(presented) = message.headers.get(MAC_HEADER).and_then(|v| v.as_str()).and_then(|v| hex::decode(v).ok()) else {
        return false;
    };
    keyed(key, message).verify_slice(&presented).is_ok()
}

#[async_trait]
impl Queue for SignedQueue {
    fn backend(&self) -> QueueBackend {
        self.inner.backend()
    }

    fn supports_bindings(&self) -> bool {
        self.inner.supports_bindings()
    }

    async fn publish(&self, queue: &QueueRef, message: &Message, delay: Option<Duration>) -> Result<(), QueueError> {
        match is_owned(queue) {
            true => self.inner.publish(queue, &sign(&self.key, message), delay).await,
            false => self.inner.publish(queue, message, delay).await,
        }
    }

    fn consume(&self, queue: QueueRef, prefetch: u16) -> Consumer {
        let owned = is_owned(&queue);
        let mut inner = self.inner.consume(queue, prefetch);
        let key = self.key.clone();
        super::spawn_consumer(move |tx| async move {
            while let Some(mut delivery) = inner.next().await {
                delivery.authentic = !owned || verify(&key, &delivery.message);
                if tx.send(delivery).await.is_err() {
                    return;
                }
            }
        })
    }

    async fn declare(&self, queue: &QueueRef) -> Result<(), QueueError> {
        self.inner.declare(queue).await
    }

    async fn browse(&self, queue: &QueueRef, limit: usize) -> Result<Browsed, QueueError> {
        self.inner.browse(queue, limit).await
    }

    /// Moved messages are signed anew for their new queue (a redrive rewrites them).
    async fn transfer(&self, from: &QueueRef, id: Option<&str>, to: &QueueRef, rewrite: Rewrite<'_>) -> Result<u64, QueueError> {
        let (key, owned) = (self.key.clone(), is_owned(to));
        let resign = move |m: Message| {
            let m = rewrite(m);
            if owned {
                sign(&key, &m)
            } else {
                m
            }
        };
        self.inner.transfer(from, id, to, &resign).await
    }

    async fn wait_ready(&self, limit: Duration) -> bool {
        self.inner.wait_ready(limit).await
    }

    async fn close(&self) {
        self.inner.close().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_what_this_server_signed_is_authentic() {
        let dir = tempfile::tempdir().unwrap();
        let raw = super::super::embedded(dir.path()).unwrap();
        let queue = signed(raw.clone(), [7; 32]);
        let work = QueueRef::function("f");
        let message = |id: &str| Message { id: id.into(), headers: Default::default(), body: bytes::Bytes::from_static(b"{}") };
        queue.publish(&work, &message("ours"), None).await.unwrap();
        raw.publish(&work, &message("forged"), None).await.unwrap();
        let mut tampered = sign(&[7; 32], &message("tampered"));
        tampered.body = bytes::Bytes::from_static(b"{\"callback_url\":\"http://evil\"}");
        raw.publish(&work, &tampered, None).await.unwrap();
        raw.publish(&work, &sign(&[8; 32], &message("other-key")), None).await.unwrap();
        let mut consumer = queue.consume(work, 8);
        let mut seen = Vec::new();
        for _ in 0..4 {
            let d = consumer.next().await.unwrap();
            seen.push((d.message.id.clone(), d.authentic));
            d.ack().await.unwrap();
        }
        seen.sort();
        assert_eq!(seen, [("forged".into(), false), ("other-key".into(), false), ("ours".into(), true), ("tampered".into(), false)]);
    }
}
