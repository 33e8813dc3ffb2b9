use crate::{InvokerError, ThrottleScope};
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Admission for one execution: a permit from the function's reserved pool (if it has one) and
/// one from the global pool. Both are taken without waiting — a call that cannot run now is
/// throttled at once, so nothing queues in memory.
pub(crate) struct Permits {
    _function: Option<OwnedSemaphorePermit>,
    _global: OwnedSemaphorePermit,
}

pub(crate) fn try_admit(
    function: Option<&Arc<Semaphore>>,
    global: &Arc<Semaphore>,
) -> Result<Permits, InvokerError> {
    let function = match function {
        Some(s) => Some(
            s.clone().try_acquire_owned().map_err(|_| InvokerError::Throttled(ThrottleScope::Function))?,
        ),
        None => None,
    };
    let global =
        global.clone().try_acquire_owned().map_err(|_| InvokerError::Throttled(ThrottleScope::Global))?;
    Ok(Permits { _function: function, _global: global })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_limit_is_checked_before_global_and_released_on_drop() {
        let global = Arc::new(Semaphore::new(2));
        let reserved = Arc::new(Semaphore::new(1));
        let first = try_admit(Some(&reserved), &global).unwrap();
        assert!(matches!(
            try_admit(Some(&reserved), &global),
            Err(InvokerError::Throttled(ThrottleScope::Function))
        ));
        let _other = try_admit(None, &global).unwrap();
        assert!(matches!(try_admit(None, &global), Err(InvokerError::Throttled(ThrottleScope::Global))));
        drop(first);
        assert_eq!(global.available_permits(), 1);
        assert_eq!(reserved.available_permits(), 1);
    }
}
