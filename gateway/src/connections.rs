//! Bounds on what one client can hold of the server: the number of open connections, the time
//! a connection may take to send its first request's headers, and how long a connection with
//! no request in flight stays open.
//!
//! hyper bounds the header read of HTTP/1 requests, but not the protocol detection before it
//! (a peer that sends nothing, or a few bytes, is kept forever) nor the idle time of a
//! keep-alive or HTTP/2 connection. So every connection is watched here, by activity that does
//! not depend on the protocol: a request is in flight from its head until its response body
//! has been sent (or dropped); the connection is closed once it has had nothing in flight for
//! its allowance — `header_read_timeout` before its first request, `idle_timeout` after.
//! (A body sent too slowly is bounded where bodies are read: [`crate::body`].)

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// The server's connection bounds.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Connections open at once; further clients wait in the listen backlog.
    pub max_connections: usize,
    /// From accept to the first request's complete head.
    pub header_read_timeout: Duration,
    /// How long a connection with no request in flight is kept after one (which bounds a later
    /// request's head too: it is not in flight before its head is complete).
    pub idle_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self { max_connections: 4096, header_read_timeout: Duration::from_secs(10), idle_timeout: Duration::from_secs(60) }
    }
}

/// What one connection is doing, shared by its requests and its watchdog.
#[derive(Default)]
pub(crate) struct Activity {
    in_flight: AtomicUsize,
    served: AtomicBool,
    /// Milliseconds after `opened` of the last request's end.
    last_ms: AtomicU64,
    opened: OnceInstant,
}

#[derive(Default)]
struct OnceInstant(std::sync::OnceLock<Instant>);

impl OnceInstant {
    fn get(&self) -> Instant {
        *self.0.get_or_init(Instant::now)
    }
}

impl Activity {
    pub(crate) fn new() -> Arc<Self> {
        let activity = Arc::new(Self::default());
        activity.opened.get();
        activity
    }

    /// A request began; it is in flight until the returned guard is dropped.
    pub(crate) fn begin(self: &Arc<Self>) -> InFlight {
        self.served.store(true, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self.clone())
    }

    /// Resolves once the connection has been without a request for its allowance.
    pub(crate) async fn expired(&self, limits: &ConnectionLimits) {
        loop {
            let allowance = match self.served.load(Ordering::Relaxed) {
                true => limits.idle_timeout,
                false => limits.header_read_timeout,
            };
            let since = Duration::from_millis(self.last_ms.load(Ordering::Acquire));
            let quiet_until = self.opened.get() + since + allowance;
            if self.in_flight.load(Ordering::Acquire) == 0 && Instant::now() >= quiet_until {
                return;
            }
            let wake = quiet_until.max(Instant::now() + Duration::from_millis(100));
            tokio::time::sleep_until(wake).await;
        }
    }
}

/// A request in flight; its drop marks the connection active as of now.
pub(crate) struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let now = self.0.opened.get().elapsed().as_millis() as u64;
        self.0.last_ms.store(now, Ordering::Release);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ConnectionLimits {
        ConnectionLimits { header_read_timeout: Duration::from_secs(2), idle_timeout: Duration::from_secs(5), ..Default::default() }
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_connection_expires_at_the_header_timeout() {
        let activity = Activity::new();
        let started = tokio::time::Instant::now();
        activity.expired(&limits()).await;
        let waited = started.elapsed();
        assert!(waited >= Duration::from_secs(2) && waited < Duration::from_secs(3), "{waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_in_flight_keeps_it_open_and_idleness_after_it_closes_it() {
        let activity = Activity::new();
        let request = activity.begin();
        let watchdog = tokio::spawn({
            let activity = activity.clone();
            async move { activity.expired(&limits()).await }
        });
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert!(!watchdog.is_finished(), "a long request is not idleness");
        drop(request);
        let ended = tokio::time::Instant::now();
        watchdog.await.unwrap();
        let idle = ended.elapsed();
        assert!(idle >= Duration::from_secs(4) && idle < Duration::from_secs(6), "{idle:?}");
    }
}
