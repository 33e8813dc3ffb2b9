//! The reconciler's decisions as pure functions over its copies: what to start and what to
//! drain this tick, and whether a rollout is done or must be rolled back. Unit-tested without
//! an engine.

use super::copy::{Copy, Phase};
use skiff_api::now_ms;
use skiff_api::service::{rollout_bounds, DeploymentSettings, RolloutState, ServiceConfig};

/// The rollout the reconciler is driving, and how many of its copies failed before ever
/// becoming healthy (what the circuit breaker counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RolloutProgress {
    pub(super) revision: u64,
    pub(super) failures: u32,
}

/// What one tick should do to move towards the desired copies.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Plan {
    /// Copies of the target revision to start.
    pub(super) start: u32,
    /// Copies to take out of rotation (and stop once drained), by id.
    pub(super) drain: Vec<String>,
}

/// Towards `desired` healthy copies of `target`, within the deployment's bounds: never more
/// than `max_total` copies, never fewer than `min_healthy` healthy ones while old copies go.
/// `may_start` is false while the crash-loop backoff holds starts back.
pub(super) fn converge(copies: &[Copy], target: u64, desired: u32, deployment: &DeploymentSettings, may_start: bool) -> Plan {
    let (min_healthy, max_total) = rollout_bounds(desired, deployment);
    let active = |c: &&Copy| !c.phase.is_draining();
    let new = copies.iter().filter(active).filter(|c| c.revision == target).count() as u32;
    let old = copies.iter().filter(active).filter(|c| c.revision != target).count() as u32;
    let mut plan = Plan::default();
    // Start what is missing, within the surge bound.
    if may_start {
        plan.start = desired.saturating_sub(new).min(max_total.saturating_sub(new + old));
    }
    // Old copies that are not serving can go at once.
    plan.drain.extend(copies.iter().filter(|c| c.revision != target && c.phase == Phase::Starting).map(|c| c.id.clone()));
    // Healthy old copies go while enough healthy copies remain.
    let mut healthy = copies.iter().filter(|c| c.phase == Phase::Healthy).count() as u32;
    let new_healthy = copies.iter().filter(|c| c.phase == Phase::Healthy && c.revision == target).count() as u32;
    for victim in copies.iter().filter(|c| c.phase == Phase::Healthy && c.revision != target) {
        if !(new_healthy >= desired || healthy > min_healthy) {
            break;
        }
        plan.drain.push(victim.id.clone());
        healthy -= 1;
    }
    // Scale in: too many of the current revision; drop starting copies first, then the newest.
    let mut current: Vec<&Copy> = copies.iter().filter(active).filter(|c| c.revision == target).collect();
    if current.len() as u32 > desired {
        current.sort_by_key(|c| (c.phase == Phase::Healthy, std::cmp::Reverse(c.started)));
        plan.drain.extend(current.iter().take(current.len() - desired as usize).map(|c| c.id.clone()));
    }
    plan
}

/// Where a rollout stands after this tick.
#[derive(Debug, PartialEq)]
pub(super) enum Verdict {
    /// Too many copies of the revision failed before becoming healthy (ECS's circuit breaker:
    /// half the desired count, 3..200).
    Trip,
    /// Exactly the desired copies, all of the revision, all healthy.
    Complete,
    Continue,
}

pub(super) fn verdict(config: &ServiceConfig, failures: u32, copies: &[Copy]) -> Verdict {
    if !matches!(config.rollout.state, RolloutState::InProgress | RolloutState::Failing) {
        return Verdict::Continue;
    }
    let threshold = config.desired_count.div_ceil(2).clamp(3, 200);
    if failures >= threshold {
        return Verdict::Trip;
    }
    let settled = copies.len() as u32 == config.desired_count && copies.iter().all(|c| c.revision == config.revision && c.phase == Phase::Healthy);
    if settled {
        Verdict::Complete
    } else {
        Verdict::Continue
    }
}

/// Puts the revision before `failed_revision` back (unless the definition moved on meanwhile);
/// with none to go back to, the rollout is marked failing and keeps retrying.
pub(super) fn roll_back(c: &mut ServiceConfig, failed_revision: u64, why: String) {
    if c.revision != failed_revision {
        return;
    }
    match c.previous.take() {
        Some(prev) => {
            c.spec = prev.spec;
            c.revision = prev.revision;
            c.rollout.state = RolloutState::RolledBack;
            c.rollout.message = Some(format!("rolled back to revision {}: {why}", prev.revision));
        }
        None => {
            c.rollout.state = RolloutState::Failing;
            c.rollout.message = Some(why);
        }
    }
    c.rollout.updated_ms = now_ms();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    fn copy(id: &str, revision: u64, phase: Phase) -> Copy {
        let mut c = Copy::new(id.into(), "n".into(), revision, SocketAddr::from(([10, 0, 0, 1], 80)), false);
        c.phase = phase;
        c
    }

    fn settings(min_healthy_percent: u32, max_surge_percent: u32) -> DeploymentSettings {
        DeploymentSettings { min_healthy_percent, max_surge_percent, drain_timeout_ms: 0 }
    }

    #[test]
    fn a_rollout_surges_then_replaces_old_copies_only_when_new_ones_are_healthy() {
        let old = [copy("a", 1, Phase::Healthy), copy("b", 1, Phase::Healthy)];
        // 100% healthy, 50% surge: one new copy may start, no old one may go yet.
        assert_eq!(converge(&old, 2, 2, &settings(100, 50), true), Plan { start: 1, drain: vec![] });
        let mixed = [copy("a", 1, Phase::Healthy), copy("b", 1, Phase::Healthy), copy("c", 2, Phase::Healthy)];
        // Three healthy, two needed: one old copy goes.
        assert_eq!(converge(&mixed, 2, 2, &settings(100, 50), true).drain, vec!["a".to_string()]);
        // During the crash-loop backoff nothing starts.
        assert_eq!(converge(&old, 2, 2, &settings(100, 50), false).start, 0);
    }

    #[test]
    fn scale_in_drops_starting_copies_first_and_old_starting_ones_go_at_once() {
        let copies = [copy("a", 1, Phase::Healthy), copy("b", 1, Phase::Starting), copy("c", 1, Phase::Healthy)];
        assert_eq!(converge(&copies, 1, 2, &settings(100, 100), true).drain, vec!["b".to_string()]);
        let stale = [copy("a", 1, Phase::Starting), copy("b", 2, Phase::Healthy)];
        assert_eq!(converge(&stale, 2, 1, &settings(100, 100), true).drain, vec!["a".to_string()]);
    }
}
