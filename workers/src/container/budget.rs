//! The host's budget for function containers.
//!
//! Every container is capped (memory, pids), but the caps add up: 256 containers of 1024 pids
//! exceed a `pid_max` of 32768, and nothing else compares the sum of configured memory with the
//! machine's. So each container reserves its caps here before it is created and gives them back
//! once it has been removed (the reservation travels with the removal, not with the decision to
//! remove). When a new container does not fit, idle warm containers of any function are evicted,
//! least recently used first; when that is not enough the start is refused with [`Exhausted`],
//! which callers see as a 429 and queued events wait out.
//!
//! Reservations count what containers *may* use, not what they use: a budget of configured limits
//! is the only one that holds when every container peaks at once.

pub use crate::types::Exhausted;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

/// What one container may take: its memory limit and its pids limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Caps {
    pub memory_mib: u64,
    pub pids: u64,
}

/// The host-wide totals every function container's caps must fit in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetLimits {
    pub memory_mib: u64,
    pub pids: u64,
}

impl BudgetLimits {
    /// Three quarters of the machine's memory and of its `pid_max`, leaving the rest to the host,
    /// the server itself and services. Falls back to 4 GiB and 32768 pids where `/proc` says
    /// nothing.
    pub fn from_machine() -> Self {
        let memory_kib = proc_number("/proc/meminfo", Some("MemTotal:")).unwrap_or(4 << 20);
        let pid_max = proc_number("/proc/sys/kernel/pid_max", None).unwrap_or(32_768);
        Self { memory_mib: memory_kib / 1024 * 3 / 4, pids: pid_max * 3 / 4 }
    }
}

/// The first number in `path`, on the line starting with `key` if given.
fn proc_number(path: &str, key: Option<&str>) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = match key {
        Some(key) => text.lines().find(|l| l.starts_with(key))?.trim_start_matches(key),
        None => text.lines().next()?,
    };
    line.split_whitespace().next()?.parse().ok()
}

/// Whether `caps` fit beside `used` within `limits`: the whole admission decision.
pub fn fits(used: Caps, caps: Caps, limits: BudgetLimits) -> Result<(), Exhausted> {
    if used.memory_mib + caps.memory_mib > limits.memory_mib {
        return Err(Exhausted::Memory { needed: caps.memory_mib, used: used.memory_mib, limit: limits.memory_mib });
    }
    if used.pids + caps.pids > limits.pids {
        return Err(Exhausted::Pids { needed: caps.pids, used: used.pids, limit: limits.pids });
    }
    Ok(())
}

/// The removal of an evicted container; its reservation is returned when it completes.
pub(crate) type Removal = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Something that keeps idle containers and can give its least recently used one up.
pub(crate) trait IdleHolder: Send + Sync {
    /// Since when its least recently used evictable container has been idle, if it has one.
    fn oldest_idle(&self) -> Option<Instant>;
    /// Takes that container out and hands back its removal, for the caller to await.
    fn evict_oldest(&self) -> Option<Removal>;
}

pub struct HostBudget {
    limits: BudgetLimits,
    used: Mutex<Caps>,
    holders: Mutex<Vec<Weak<dyn IdleHolder>>>,
}

/// Caps held by one container; given back when dropped.
pub struct Reservation {
    budget: Arc<HostBudget>,
    caps: Caps,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut used = self.budget.used();
        used.memory_mib -= self.caps.memory_mib;
        used.pids -= self.caps.pids;
    }
}

impl HostBudget {
    pub fn new(limits: BudgetLimits) -> Arc<Self> {
        Arc::new(Self { limits, used: Mutex::new(Caps::default()), holders: Mutex::new(Vec::new()) })
    }

    /// What the containers that exist now have reserved.
    pub fn used(&self) -> std::sync::MutexGuard<'_, Caps> {
        self.used.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Lets the budget evict `holder`'s idle containers when a start needs room.
    pub(crate) fn register(&self, holder: Weak<dyn IdleHolder>) {
        let mut holders = self.holders.lock().unwrap_or_else(|p| p.into_inner());
        holders.retain(|h| h.strong_count() > 0);
        holders.push(holder);
    }

    fn try_reserve(self: &Arc<Self>, caps: Caps) -> Result<Reservation, Exhausted> {
        let mut used = self.used();
        fits(*used, caps, self.limits)?;
        used.memory_mib += caps.memory_mib;
        used.pids += caps.pids;
        Ok(Reservation { budget: self.clone(), caps })
    }

    /// Reserves `caps`, evicting idle containers (least recently used first, across every
    /// function) until they fit; refuses once nothing idle is left to evict.
    pub(crate) async fn reserve(self: &Arc<Self>, caps: Caps) -> Result<Reservation, Exhausted> {
        loop {
            let refused = match self.try_reserve(caps) {
                Ok(reservation) => return Ok(reservation),
                Err(refused) => refused,
            };
            let Some(removal) = self.least_recently_used() else { return Err(refused) };
            // Its reservation is returned once the removal is done.
            removal.await;
        }
    }

    fn least_recently_used(&self) -> Option<Removal> {
        let holders: Vec<Arc<dyn IdleHolder>> = self.holders.lock().unwrap_or_else(|p| p.into_inner()).iter().filter_map(Weak::upgrade).collect();
        let oldest = holders.iter().filter_map(|h| Some((h.oldest_idle()?, h))).min_by_key(|(since, _)| *since)?;
        oldest.1.evict_oldest()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: BudgetLimits = BudgetLimits { memory_mib: 1024, pids: 4096 };

    #[test]
    fn caps_fit_up_to_the_limit_and_not_past_it() {
        let one = Caps { memory_mib: 512, pids: 1024 };
        assert_eq!(fits(Caps::default(), one, LIMITS), Ok(()));
        assert_eq!(fits(one, one, LIMITS), Ok(()), "exactly full is within the budget");
        let full = Caps { memory_mib: 1024, pids: 2048 };
        assert_eq!(fits(full, one, LIMITS), Err(Exhausted::Memory { needed: 512, used: 1024, limit: 1024 }));
        let many = Caps { memory_mib: 0, pids: 3584 };
        assert_eq!(fits(many, one, LIMITS), Err(Exhausted::Pids { needed: 1024, used: 3584, limit: 4096 }));
    }

    #[tokio::test]
    async fn reservations_are_returned_when_dropped_and_nothing_idle_means_refusal() {
        let budget = HostBudget::new(LIMITS);
        let caps = Caps { memory_mib: 600, pids: 1 };
        let first = budget.reserve(caps).await.unwrap();
        assert!(matches!(budget.reserve(caps).await, Err(Exhausted::Memory { .. })));
        drop(first);
        assert_eq!(*budget.used(), Caps::default());
        let _again = budget.reserve(caps).await.expect("the dropped reservation made room");
    }

    #[test]
    fn the_machine_budget_is_a_part_of_the_machine() {
        let limits = BudgetLimits::from_machine();
        assert!(limits.memory_mib > 0 && limits.pids > 0, "{limits:?}");
    }
}
