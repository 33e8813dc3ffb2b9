//! Warm instances of one function version, kept between calls when the function opts into
//! reuse (as Lambda keeps an execution environment): a call takes the most recently used idle
//! instance or makes a new one, and gives it back after a clean call. An instance is never given
//! back after it trapped, timed out or hit its memory cap (its state is suspect), and it is
//! dropped after `max_calls` calls or `idle` after its last one. An instance serves one call at
//! a time: concurrent calls each hold their own.

use crate::ReusePolicy;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

pub(crate) struct WarmPool<T> {
    policy: ReusePolicy,
    /// Oldest first; calls take from the end.
    idle: Mutex<Vec<Idle<T>>>,
    sweeping: AtomicBool,
    retired: AtomicBool,
}

struct Idle<T> {
    instance: T,
    calls: u32,
    since: Instant,
}

/// Whether an instance that has served `calls` calls, the last one `clean` (no trap, timeout
/// or memory cap), may serve another.
pub(crate) fn keeps(policy: &ReusePolicy, calls: u32, clean: bool) -> bool {
    clean && calls < policy.max_calls
}

impl<T: Send + 'static> WarmPool<T> {
    pub(crate) fn new(policy: ReusePolicy) -> Arc<Self> {
        Arc::new(Self { policy, idle: Mutex::new(Vec::new()), sweeping: AtomicBool::new(false), retired: AtomicBool::new(false) })
    }

    /// The most recently used idle instance and the calls it has served, if one is left.
    pub(crate) fn take(&self) -> Option<(T, u32)> {
        let mut idle = self.idle.lock().expect("lock");
        self.drop_expired(&mut idle, Instant::now());
        idle.pop().map(|i| (i.instance, i.calls))
    }

    /// Gives back an instance after a call; it is kept only if [`keeps`] says so.
    pub(crate) fn put(self: &Arc<Self>, instance: T, calls: u32, clean: bool) {
        if !keeps(&self.policy, calls, clean) || self.retired.load(Ordering::Acquire) {
            return;
        }
        self.idle.lock().expect("lock").push(Idle { instance, calls, since: Instant::now() });
        if !self.sweeping.swap(true, Ordering::AcqRel) {
            sweep_while_alive(Arc::downgrade(self), self.policy);
        }
    }

    /// Drops every idle instance, and refuses the ones still serving when they come back.
    pub(crate) fn retire(&self) {
        self.retired.store(true, Ordering::Release);
        self.idle.lock().expect("lock").clear();
    }

    #[cfg(test)]
    pub(crate) fn idle_count(&self) -> usize {
        self.idle.lock().expect("lock").len()
    }

    fn drop_expired(&self, idle: &mut Vec<Idle<T>>, now: Instant) {
        idle.retain(|i| now.duration_since(i.since) < self.policy.idle);
    }
}

/// Drops expired instances every half `idle` until the pool is gone, so an instance nobody calls
/// does not hold its memory (and its slot in the engine's pool) forever.
fn sweep_while_alive<T: Send + 'static>(pool: Weak<WarmPool<T>>, policy: ReusePolicy) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
    runtime.spawn(async move {
        let period = (policy.idle / 2).max(std::time::Duration::from_millis(50));
        loop {
            tokio::time::sleep(period).await;
            let Some(pool) = pool.upgrade() else { return };
            if pool.retired.load(Ordering::Acquire) {
                return;
            }
            let mut idle = pool.idle.lock().expect("lock");
            pool.drop_expired(&mut idle, Instant::now());
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const POLICY: ReusePolicy = ReusePolicy { max_calls: 3, idle: Duration::from_millis(200) };

    #[test]
    fn an_instance_is_kept_only_after_clean_calls_below_the_maximum() {
        assert!(keeps(&POLICY, 1, true) && keeps(&POLICY, 2, true));
        assert!(!keeps(&POLICY, 3, true), "the third call was its last");
        assert!(!keeps(&POLICY, 1, false), "a trap, timeout or memory cap discards it");
    }

    #[tokio::test]
    async fn the_most_recent_is_taken_and_idle_ones_expire() {
        let pool = WarmPool::new(POLICY);
        pool.put("old", 1, true);
        pool.put("new", 2, true);
        pool.put("spent", 3, true);
        assert_eq!(pool.take(), Some(("new", 2)));
        pool.put("new", 2, true);
        tokio::time::sleep(Duration::from_millis(450)).await;
        assert_eq!(pool.idle_count(), 0, "the sweeper dropped them");
        assert_eq!(pool.take(), None);
        pool.put("late", 1, true);
        pool.retire();
        pool.put("after", 1, true);
        assert_eq!(pool.take(), None);
    }
}
