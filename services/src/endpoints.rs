//! The copies of a service that take traffic, shared between its reconciler (which adds a copy
//! once it is healthy and takes it out to drain it) and the gateway's proxy (which picks one per
//! request).
//!
//! Picking is least-outstanding-requests: the copy with the fewest requests in flight, ties
//! broken by a rotating start so equal copies share the load. A pick holds an [`InFlight`] guard
//! until the response has been fully sent; the reconciler stops a drained copy only once its
//! count is back to zero, which is what makes rollouts lose no request.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// A container id in Docker's short form: the form copies are known by in the route.
///
/// The placements record (what nodes that do not schedule follow) names copies in the short form
/// the API shows, and the scheduler knows its copies by their full id. Keyed by the short form
/// whichever form it was given, the route holds one endpoint per copy when both have written
/// to it (after a restart, or when this node becomes the scheduler) — never two, which would
/// double the copy's share of requests, and alternate the proxy between two names of one copy
/// so that no pooled connection to it was ever reused.
pub fn short_id(id: &str) -> &str {
    &id[..12.min(id.len())]
}

/// Where the proxy finds a service's copies.
pub trait RouteLookup: Send + Sync {
    /// `None` for an unknown service.
    fn route(&self, name: &str) -> Option<Arc<ServiceRoute>>;
}

#[derive(Debug)]
pub struct Endpoint {
    /// The container id, in its short form ([`short_id`]).
    pub id: String,
    pub addr: SocketAddr,
    pub revision: u64,
    in_flight: AtomicUsize,
    served: AtomicU64,
}

impl Endpoint {
    pub(crate) fn new(id: String, addr: SocketAddr, revision: u64) -> Arc<Self> {
        let id = short_id(&id).to_string();
        Arc::new(Self { id, addr, revision, in_flight: AtomicUsize::new(0), served: AtomicU64::new(0) })
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    pub fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }
}

/// One request's claim on an endpoint; released when dropped.
pub struct InFlight(Arc<Endpoint>);

impl InFlight {
    pub fn endpoint(&self) -> &Endpoint {
        &self.0
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What the proxy needs of a service.
pub struct ServiceRoute {
    pub name: String,
    live: RwLock<Arc<Vec<Arc<Endpoint>>>>,
    next: AtomicUsize,
    request_timeout_ms: AtomicU64,
}

impl ServiceRoute {
    /// A route with no copy in rotation yet. Public so that any [`RouteLookup`] (a test's
    /// among them) can build the routes it hands out.
    pub fn new(name: &str, request_timeout: Duration) -> Arc<Self> {
        Arc::new(Self {
            name: name.to_string(),
            live: RwLock::default(),
            next: AtomicUsize::new(0),
            request_timeout_ms: AtomicU64::new(request_timeout.as_millis() as u64),
        })
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms.load(Ordering::Relaxed))
    }

    pub(crate) fn set_request_timeout(&self, timeout: Duration) {
        self.request_timeout_ms.store(timeout.as_millis() as u64, Ordering::Relaxed);
    }

    /// The copy with the fewest requests in flight, excluding `skip` (one that just refused a
    /// connection); `None` when no copy is healthy.
    pub fn pick(&self, skip: Option<&str>) -> Option<InFlight> {
        let live = self.live.read().expect("endpoints lock").clone();
        let n = live.len();
        if n == 0 {
            return None;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let best = (0..n).map(|i| &live[(start + i) % n]).filter(|e| Some(e.id.as_str()) != skip).min_by_key(|e| e.in_flight())?.clone();
        best.in_flight.fetch_add(1, Ordering::AcqRel);
        best.served.fetch_add(1, Ordering::Relaxed);
        Some(InFlight(best))
    }

    pub fn endpoints(&self) -> Arc<Vec<Arc<Endpoint>>> {
        self.live.read().expect("endpoints lock").clone()
    }

    pub(crate) fn add(&self, endpoint: Arc<Endpoint>) {
        let mut live = self.live.write().expect("endpoints lock");
        let mut next: Vec<_> = live.iter().filter(|e| e.id != endpoint.id).cloned().collect();
        next.push(endpoint);
        *live = Arc::new(next);
    }

    /// Puts exactly `copies` (id, address, revision) in rotation, keeping the endpoints (and
    /// their counters) of copies already there: how a node that does not schedule follows what
    /// the scheduler placed.
    pub fn set(&self, copies: &[(String, SocketAddr, u64)]) {
        let mut live = self.live.write().expect("endpoints lock");
        let next = copies
            .iter()
            .map(|(id, addr, revision)| match live.iter().find(|e| e.id == short_id(id) && e.addr == *addr) {
                Some(kept) => kept.clone(),
                None => Endpoint::new(id.clone(), *addr, *revision),
            })
            .collect();
        *live = Arc::new(next);
    }

    /// Takes a copy out of rotation. Requests already holding it carry on.
    pub(crate) fn remove(&self, id: &str) {
        let id = short_id(id);
        let mut live = self.live.write().expect("endpoints lock");
        if live.iter().any(|e| e.id == id) {
            *live = Arc::new(live.iter().filter(|e| e.id != id).cloned().collect());
        }
    }

    /// Keeps in rotation only the copies `keep` names: what a scheduler starting its term does
    /// with what it found running, so that copies only the placements record still named (gone
    /// meanwhile) take no more traffic.
    pub(crate) fn retain(&self, keep: impl Fn(&str) -> bool) {
        let mut live = self.live.write().expect("endpoints lock");
        if !live.iter().all(|e| keep(&e.id)) {
            *live = Arc::new(live.iter().filter(|e| keep(&e.id)).cloned().collect());
        }
    }

    /// Requests in flight across the copies in rotation.
    pub fn total_in_flight(&self) -> usize {
        self.endpoints().iter().map(|e| e.in_flight()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_named_by_its_full_and_its_short_id_is_one_endpoint() {
        let full = "5456f2309fe0c4b7a1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4";
        let addr = SocketAddr::from(([10, 0, 0, 1], 80));
        let route = ServiceRoute::new("s", Duration::from_secs(1));
        route.set(&[(short_id(full).to_string(), addr, 1)]);
        route.add(Endpoint::new(full.to_string(), addr, 1));
        assert_eq!(route.endpoints().len(), 1, "the scheduler's endpoint replaced the follower's");
        let ids: Vec<String> = (0..4).map(|_| route.pick(None).unwrap().endpoint().id.clone()).collect();
        assert_eq!(ids, vec![short_id(full).to_string(); 4], "every pick names the copy the same way");
        route.add(Endpoint::new("0123456789abcdef".into(), SocketAddr::from(([10, 0, 0, 2], 80)), 1));
        route.retain(|id| id == short_id(full));
        route.remove(full);
        assert!(route.pick(None).is_none(), "removed by its full id, and the other not kept");
    }

    #[test]
    fn picks_the_least_loaded_and_rotates_between_equals() {
        let route = ServiceRoute::new("s", Duration::from_secs(1));
        assert!(route.pick(None).is_none());
        for (i, id) in ["a", "b", "c"].iter().enumerate() {
            route.add(Endpoint::new(id.to_string(), SocketAddr::from(([10, 0, 0, i as u8], 80)), 1));
        }
        let held: Vec<_> = (0..3).map(|_| route.pick(None).unwrap()).collect();
        let mut ids: Vec<_> = held.iter().map(|g| g.endpoint().id.clone()).collect();
        ids.sort();
        assert_eq!(ids, ["a", "b", "c"], "one each while all are equally busy");
        let extra = route.pick(Some("a")).unwrap();
        assert_ne!(extra.endpoint().id, "a");
        drop(held);
        assert_eq!(route.total_in_flight(), 1);
        route.remove("b");
        route.remove("c");
        assert_eq!(route.pick(None).unwrap().endpoint().id, "a");
        drop(extra);
        assert_eq!(route.total_in_flight(), 0);
    }

    #[test]
    fn set_keeps_the_counters_of_copies_that_stay() {
        let route = ServiceRoute::new("s", Duration::from_secs(1));
        let a = SocketAddr::from(([10, 0, 0, 1], 80));
        let b = SocketAddr::from(([10, 0, 0, 2], 80));
        route.set(&[("a".into(), a, 1)]);
        let held = route.pick(None).unwrap();
        route.set(&[("a".into(), a, 1), ("b".into(), b, 1)]);
        assert_eq!(route.total_in_flight(), 1, "a kept its request in flight");
        route.set(&[("b".into(), b, 1)]);
        assert_eq!(route.endpoints().len(), 1);
        drop(held);
    }
}
