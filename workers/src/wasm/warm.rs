//! Warm instances of one function version, kept between calls when the function opts into
//! reuse (as Lambda keeps an execution environment): a call takes the most recently used idle
//! instance or makes a new one, and gives it back after a clean call. An instance is never given
//! back after it trapped, timed out or hit its memory cap (its state is suspect), and it is
//! dropped after `max_calls` calls or `idle` after its last one. An instance serves one call at
//! a time: concurrent calls each hold their own.
//!
//! A call's client may have its whole answer while the guest is still returning from it, so a
//! client calling again at once can arrive before the instance is back. Such a call waits for
//! that instance rather than making a new one, but for no longer than making one took: a
//! sequential client then keeps one warm instance instead of paying a cold start by chance.

use crate::ReusePolicy;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

pub(crate) struct WarmPool<T> {
    policy: ReusePolicy,
    /// Oldest first; calls take from the end.
    idle: Mutex<Vec<Idle<T>>>,
    /// Instances whose call has answered in full, with only their guest's return left.
    finishing: AtomicUsize,
    /// Told each time a finishing instance is back (or gone).
    finished: Notify,
    /// How long the last new instance took to instantiate, in microseconds.
    made_in_us: AtomicU64,
    sweeping: AtomicBool,
    retired: AtomicBool,
}

/// An instance whose call has answered in full: calls that find no idle instance wait for it
/// until this is dropped, which is done once the instance has been given back (or dropped).
pub(crate) struct Finishing<T: Send + 'static>(Arc<WarmPool<T>>);

impl<T: Send + 'static> Drop for Finishing<T> {
    fn drop(&mut self) {
        self.0.finishing.fetch_sub(1, Ordering::AcqRel);
        self.0.finished.notify_waiters();
    }
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
        Arc::new(Self {
            policy,
            idle: Mutex::new(Vec::new()),
            finishing: AtomicUsize::new(0),
            finished: Notify::new(),
            made_in_us: AtomicU64::new(0),
            sweeping: AtomicBool::new(false),
            retired: AtomicBool::new(false),
        })
    }

    /// The most recently used idle instance and the calls it has served; or, when none is idle
    /// but one is [finishing](Self::finishing), that one once it is back, if it is back within
    /// the time the last new instance took to make. `None`: make a new one.
    pub(crate) async fn take_or_await(&self) -> Option<(T, u32)> {
        let deadline = tokio::time::Instant::now() + Duration::from_micros(self.made_in_us.load(Ordering::Relaxed));
        loop {
            // Registered before looking, so an instance given back in between is not missed.
            let finished = self.finished.notified();
            if let Some(taken) = self.take() {
                return Some(taken);
            }
            if self.finishing.load(Ordering::Acquire) == 0 || tokio::time::timeout_at(deadline, finished).await.is_err() {
                return None;
            }
        }
    }

    /// Marks an instance whose call has answered in full as coming back soon.
    pub(crate) fn finishing(self: &Arc<Self>) -> Finishing<T> {
        self.finishing.fetch_add(1, Ordering::AcqRel);
        Finishing(self.clone())
    }

    /// Records how long making a new instance took: how long a call waits for a finishing one.
    pub(crate) fn made_in(&self, took: Duration) {
        self.made_in_us.store(took.as_micros().try_into().unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// The most recently used idle instance and the calls it has served, if one is left.
    fn take(&self) -> Option<(T, u32)> {
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

    #[tokio::test]
    async fn a_call_waits_for_a_finishing_instance_no_longer_than_making_one_took() {
        let pool = WarmPool::new(POLICY);
        assert_eq!(pool.take_or_await().await, None, "nothing idle or finishing: make a new one");
        pool.made_in(Duration::from_secs(2));
        let finishing = pool.finishing();
        let back = pool.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            back.put("back", 1, true);
            drop(finishing);
        });
        assert_eq!(pool.take_or_await().await, Some(("back", 1)), "the call waited for it");

        let started = Instant::now();
        let failed = pool.finishing();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            drop(failed);
        });
        assert_eq!(pool.take_or_await().await, None, "it was dropped, not given back");
        assert!(started.elapsed() < Duration::from_secs(1), "the wait ended with it: {:?}", started.elapsed());

        pool.made_in(Duration::from_millis(100));
        let _slow = pool.finishing();
        let started = Instant::now();
        assert_eq!(pool.take_or_await().await, None, "it is not back within the time a new one takes");
        assert!(started.elapsed() >= Duration::from_millis(100));
    }
}
