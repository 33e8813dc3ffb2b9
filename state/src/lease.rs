//! The lease port: who may run a singleton task (a service's reconciler) right now. A task
//! acquires the lease for its name and runs only while [`Lease::is_held`]; when the lease is
//! lost it stops acting. On a single node the node always holds every lease
//! ([`LocalLeases`]); a cluster adapter backs leases with the shared store's TTL leases.

use async_trait::async_trait;
use tokio::sync::watch;

/// A held (or lost) lease. Dropping it gives it up.
pub struct Lease {
    held: watch::Receiver<bool>,
}

impl Lease {
    /// A lease whose holding is reported through `held`.
    pub fn new(held: watch::Receiver<bool>) -> Self {
        Self { held }
    }

    pub fn is_held(&self) -> bool {
        *self.held.borrow()
    }

    /// Returns once the lease is held (at once if it is). `false` if it never can be again.
    pub async fn held(&mut self) -> bool {
        self.held.wait_for(|h| *h).await.is_ok()
    }
}

#[async_trait]
pub trait Leases: Send + Sync {
    /// Campaigns for the lease `name`; the returned lease tells whether it is held, now and
    /// later.
    async fn acquire(&self, name: &str) -> Lease;
}

/// One node: it holds every lease, forever.
pub struct LocalLeases;

#[async_trait]
impl Leases for LocalLeases {
    async fn acquire(&self, _name: &str) -> Lease {
        // With the sender gone the value can never change: held for good.
        let (_, rx) = watch::channel(true);
        Lease::new(rx)
    }
}
