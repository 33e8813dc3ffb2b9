//! Connections to service copies, kept between requests.
//!
//! Each client connection keeps its own while it lasts: a request never waits for another's
//! exchange, and uses its connection with no lock. When the client connection ends, its kept
//! connections go to an idle pool the next client connections draw from first, so clients that
//! open a connection per request do not cost a connect to the copy each.
//!
//! A kept connection the copy closed (or wrote to unasked) is dropped when it is next taken:
//! its readiness says so, without a system call while it is idle and untouched.

use futures_util::FutureExt as _;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// Connections one client connection keeps, to at most this many copies; the oldest goes first.
const KEPT: usize = 4;
/// Idle connections pooled per copy.
const POOLED_PER_COPY: usize = 64;
/// How long a pooled connection stays usable (copies close idle connections of their own).
const POOL_IDLE: Duration = Duration::from_secs(4);

/// Idle connections, by copy id, shared by all client connections.
#[derive(Default)]
pub(crate) struct IdlePool {
    idle: Mutex<HashMap<String, Vec<(Instant, TcpStream)>>>,
}

impl IdlePool {
    fn take(&self, id: &str) -> Option<TcpStream> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let kept = idle.get_mut(id)?;
        kept.retain(|(since, _)| since.elapsed() < POOL_IDLE);
        let stream = std::iter::from_fn(|| kept.pop()).map(|(_, s)| s).find(usable);
        if kept.is_empty() {
            idle.remove(id);
        }
        stream
    }

    fn put(&self, streams: Vec<(String, TcpStream)>) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        for (id, stream) in streams {
            let kept = idle.entry(id).or_default();
            kept.retain(|(since, _)| since.elapsed() < POOL_IDLE);
            if kept.len() < POOLED_PER_COPY {
                kept.push((Instant::now(), stream));
            }
        }
    }
}

/// The connections one client connection keeps.
pub(crate) struct Copies {
    /// By copy id, oldest first.
    kept: Vec<(String, TcpStream)>,
    pool: Arc<IdlePool>,
}

impl Copies {
    pub(crate) fn new(pool: Arc<IdlePool>) -> Self {
        Self { kept: Vec::new(), pool }
    }

    /// A usable connection kept to copy `id`, if any.
    pub(crate) fn take(&mut self, id: &str) -> Option<TcpStream> {
        if let Some(at) = self.kept.iter().position(|(kept, _)| kept == id) {
            let stream = self.kept.remove(at).1;
            if usable(&stream) {
                return Some(stream);
            }
        }
        self.pool.take(id)
    }

    /// Keeps `stream` to copy `id` for the next request.
    pub(crate) fn keep(&mut self, id: &str, stream: TcpStream) {
        if self.kept.len() == KEPT {
            self.kept.remove(0);
        }
        self.kept.push((id.to_string(), stream));
    }
}

impl Drop for Copies {
    fn drop(&mut self) {
        if !self.kept.is_empty() {
            self.pool.put(std::mem::take(&mut self.kept));
        }
    }
}

/// Open, and with nothing to read: the copy neither closed it nor sent anything unasked.
/// Readiness is checked first; only a connection that had an event since it was last read to
/// the end costs a read (which clears that readiness when it finds nothing).
fn usable(stream: &TcpStream) -> bool {
    if stream.readable().now_or_never().is_none() {
        return true;
    }
    let mut probe = [0u8; 1];
    matches!(stream.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    async fn pair(listener: &TcpListener) -> (TcpStream, TcpStream) {
        let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (client, server)
    }

    #[tokio::test]
    async fn a_kept_connection_is_taken_again_unless_the_copy_closed_it_or_wrote_unasked() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let pool = Arc::new(IdlePool::default());
        let mut copies = Copies::new(pool.clone());
        let (open, _open_peer) = pair(&listener).await;
        copies.keep("a", open);
        assert!(copies.take("a").is_some());
        let (closed, closed_peer) = pair(&listener).await;
        drop(closed_peer);
        copies.keep("b", closed);
        let (chatty, mut chatty_peer) = pair(&listener).await;
        chatty_peer.write_all(b"HTTP/1.1 408\r\n\r\n").await.unwrap();
        copies.keep("c", chatty);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(copies.take("b").is_none(), "closed by the copy");
        assert!(copies.take("c").is_none(), "the copy wrote unasked");
    }

    #[tokio::test]
    async fn a_client_connection_that_ends_leaves_its_connections_to_the_next() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let pool = Arc::new(IdlePool::default());
        let (stream, _peer) = pair(&listener).await;
        let mut first = Copies::new(pool.clone());
        first.keep("a", stream);
        drop(first);
        let mut next = Copies::new(pool);
        assert!(next.take("a").is_some());
        assert!(next.take("a").is_none());
    }
}
