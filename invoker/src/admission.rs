//! Admission: whether one more execution of a function may start now. A call that cannot run
//! now is throttled at once, never queued, so nothing waits in memory. The policy takes a
//! permit from the function's reserved pool (if it has one), a slot of this node's share of
//! that reservation (all of it on a single node; a cluster splits it between its nodes), and
//! a permit from the server's global pool.

use crate::registry::Deployed;
use dashmap::DashMap;
use skiff_api::ThrottleScope;
use skiff_state::shares::ConcurrencyShares;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Held for the length of one execution; dropping it frees the slot.
pub(crate) struct Admitted {
    _function: Option<OwnedSemaphorePermit>,
    _share: Option<ShareSlot>,
    _global: Option<OwnedSemaphorePermit>,
}

/// One running execution counted against a function's share on this node.
struct ShareSlot(Arc<AtomicU32>);

impl Drop for ShareSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

pub(crate) trait Admission: Send + Sync {
    /// Admits one execution of `function` now, or names the limit that refused it.
    fn admit(&self, function: &Deployed) -> Result<Admitted, ThrottleScope>;
}

/// This node's limits: the function's reserved semaphore, its share, then the global one.
pub(crate) struct NodeAdmission {
    global: Arc<Semaphore>,
    shares: Arc<dyn ConcurrencyShares>,
    /// Executions running here, per function with reserved concurrency.
    running: DashMap<String, Arc<AtomicU32>>,
}

impl NodeAdmission {
    pub(crate) fn new(max_concurrency: u32, shares: Arc<dyn ConcurrencyShares>) -> Self {
        Self { global: Arc::new(Semaphore::new(max_concurrency as usize)), shares, running: DashMap::new() }
    }

    /// A slot of this node's share of `reserved`, if one is free.
    fn take_share(&self, name: &str, reserved: u32) -> Result<ShareSlot, ThrottleScope> {
        let share = self.shares.share(name, reserved);
        let counter = self.running.entry(name.to_string()).or_default().clone();
        counter.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < share).then_some(n + 1)).map_err(|_| ThrottleScope::Function)?;
        Ok(ShareSlot(counter))
    }
}

impl Admission for NodeAdmission {
    fn admit(&self, function: &Deployed) -> Result<Admitted, ThrottleScope> {
        let share = match function.config.concurrency {
            Some(reserved) => Some(self.take_share(&function.config.name, reserved)?),
            None => None,
        };
        let mut admitted = try_admit(function.reserved.as_ref(), &self.global)?;
        admitted._share = share;
        Ok(admitted)
    }
}

fn try_admit(function: Option<&Arc<Semaphore>>, global: &Arc<Semaphore>) -> Result<Admitted, ThrottleScope> {
    let function = match function {
        Some(s) => Some(s.clone().try_acquire_owned().map_err(|_| ThrottleScope::Function)?),
        None => None,
    };
    let global = global.clone().try_acquire_owned().map_err(|_| ThrottleScope::Global)?;
    Ok(Admitted { _function: function, _share: None, _global: Some(global) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_limit_is_checked_before_global_and_released_on_drop() {
        let global = Arc::new(Semaphore::new(2));
        let reserved = Arc::new(Semaphore::new(1));
        let first = try_admit(Some(&reserved), &global).unwrap();
        assert!(matches!(try_admit(Some(&reserved), &global), Err(ThrottleScope::Function)));
        let _other = try_admit(None, &global).unwrap();
        assert!(matches!(try_admit(None, &global), Err(ThrottleScope::Global)));
        drop(first);
        assert_eq!(global.available_permits(), 1);
        assert_eq!(reserved.available_permits(), 1);
    }

    /// A node whose share of a reservation of 4 is 1.
    struct OneOfFour;

    impl ConcurrencyShares for OneOfFour {
        fn share(&self, _function: &str, reserved: u32) -> u32 {
            reserved / 4
        }
    }

    #[test]
    fn a_node_admits_only_its_share_of_a_reservation() {
        let admission = NodeAdmission::new(8, Arc::new(OneOfFour));
        let first = admission.take_share("f", 4).unwrap();
        assert!(matches!(admission.take_share("f", 4), Err(ThrottleScope::Function)));
        assert!(admission.take_share("g", 4).is_ok(), "shares are per function");
        drop(first);
        assert!(admission.take_share("f", 4).is_ok(), "a finished execution frees its slot");
    }
}
