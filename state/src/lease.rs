//! The lease port: who may run a singleton (the scheduler) right now. A task acquires the lease
//! for its name and acts only while [`Lease::fence`] is `Some`; when the lease is lost it stops
//! acting. On a single node the node always holds every lease ([`LocalLeases`]); a cluster
//! adapter backs leases with the shared store's TTL leases.
//!
//! Holding is not enough to act safely: a holder paused past its TTL (a long GC, `SIGSTOP`) may
//! wake up still believing it holds the lease. Every term of holding therefore has a [`Fence`]
//! — a number that only grows from one holder to the next (etcd: the create revision of the
//! lease key) — and whoever carries out the holder's orders checks it first
//! ([`Leases::verify`], and the config store's fenced writes), so an old holder's orders are
//! refused once another holder exists.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// One term of holding a lease: the lease's name and the term's number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Fence {
    pub lease: String,
    pub term: u64,
}

/// A held (or lost) lease. Dropping it gives it up.
pub struct Lease {
    held: watch::Receiver<Option<Fence>>,
}

impl Lease {
    /// A lease whose terms are reported through `held` (`None` while not held).
    pub fn new(held: watch::Receiver<Option<Fence>>) -> Self {
        Self { held }
    }

    /// The current term, if the lease is held.
    pub fn fence(&self) -> Option<Fence> {
        self.held.borrow().clone()
    }

    pub fn is_held(&self) -> bool {
        self.held.borrow().is_some()
    }

    /// Every term from now on, for another task to follow.
    pub fn terms(&self) -> Terms {
        Terms { rx: self.held.clone() }
    }
}

/// A lease's terms as a task that acts under them follows them.
#[derive(Clone)]
pub struct Terms {
    rx: watch::Receiver<Option<Fence>>,
}

impl Terms {
    pub fn current(&self) -> Option<Fence> {
        self.rx.borrow().clone()
    }

    /// Returns the next term held (at once if one is). `None` if there never can be one.
    pub async fn held(&mut self) -> Option<Fence> {
        self.rx.wait_for(Option::is_some).await.ok().and_then(|f| f.clone())
    }

    /// Returns once the term `fence` has ended (the lease was lost or taken again). A lease
    /// whose holding can no longer change (a single node's, held for good) never returns.
    pub async fn ended(&mut self, fence: &Fence) {
        if self.rx.wait_for(|now| now.as_ref() != Some(fence)).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

#[async_trait]
pub trait Leases: Send + Sync {
    /// Campaigns for the lease `name`; the returned lease tells whether it is held, now and
    /// later.
    async fn acquire(&self, name: &str) -> Lease;

    /// Whether `fence` is the lease's current term: an order given under an older term must
    /// be refused. An error when that cannot be known (the store is unreachable).
    async fn verify(&self, fence: &Fence) -> Result<bool, crate::StoreError>;
}

/// One node: it holds every lease, forever, in one term.
pub struct LocalLeases;

/// The only term a [`LocalLeases`] lease has.
const LOCAL_TERM: u64 = 1;

#[async_trait]
impl Leases for LocalLeases {
    async fn acquire(&self, name: &str) -> Lease {
        // With the sender gone the value can never change: held for good.
        let (_, rx) = watch::channel(Some(Fence { lease: name.to_string(), term: LOCAL_TERM }));
        Lease::new(rx)
    }

    async fn verify(&self, fence: &Fence) -> Result<bool, crate::StoreError> {
        Ok(fence.term == LOCAL_TERM)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_term_that_cannot_end_is_never_reported_ended() {
        let lease = LocalLeases.acquire("scheduler").await;
        let mut terms = lease.terms();
        let fence = terms.held().await.unwrap();
        let ended = tokio::time::timeout(Duration::from_millis(50), terms.ended(&fence)).await;
        assert!(ended.is_err(), "a single node's term ended");
    }

    #[tokio::test]
    async fn a_new_term_ends_the_old_one() {
        let (tx, rx) = watch::channel(Some(Fence { lease: "l".into(), term: 1 }));
        let mut terms = Lease::new(rx).terms();
        let old = terms.held().await.unwrap();
        tx.send_replace(Some(Fence { lease: "l".into(), term: 2 }));
        tokio::time::timeout(Duration::from_millis(50), terms.ended(&old)).await.expect("ended");
        assert_eq!(terms.current().unwrap().term, 2);
    }
}
