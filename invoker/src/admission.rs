//! Admission: whether one more execution of a function may start now. A call that cannot run
//! now is throttled at once, never queued, so nothing waits in memory. The policy is a trait so
//! a cluster can admit against its node's share of a function's reserved concurrency; the
//! local policy takes a permit from the function's reserved pool (if it has one) and one from
//! the server's global pool.

use crate::registry::Deployed;
use skiff_api::ThrottleScope;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Held for the length of one execution; dropping it frees the slot.
pub(crate) struct Admitted {
    _function: Option<OwnedSemaphorePermit>,
    _global: Option<OwnedSemaphorePermit>,
}

pub(crate) trait Admission: Send + Sync {
    /// Admits one execution of `function` now, or names the limit that refused it.
    fn admit(&self, function: &Deployed) -> Result<Admitted, ThrottleScope>;
}

/// One server: the function's reserved semaphore, then the global one.
pub(crate) struct LocalAdmission {
    global: Arc<Semaphore>,
}

impl LocalAdmission {
    pub(crate) fn new(max_concurrency: u32) -> Self {
        Self { global: Arc::new(Semaphore::new(max_concurrency as usize)) }
    }
}

impl Admission for LocalAdmission {
    fn admit(&self, function: &Deployed) -> Result<Admitted, ThrottleScope> {
        try_admit(function.reserved.as_ref(), &self.global)
    }
}

fn try_admit(function: Option<&Arc<Semaphore>>, global: &Arc<Semaphore>) -> Result<Admitted, ThrottleScope> {
    let function = match function {
        Some(s) => Some(s.clone().try_acquire_owned().map_err(|_| ThrottleScope::Function)?),
        None => None,
    };
    let global = global.clone().try_acquire_owned().map_err(|_| ThrottleScope::Global)?;
    Ok(Admitted { _function: function, _global: Some(global) })
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
}
