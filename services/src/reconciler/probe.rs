//! Health checks: one HTTP GET per due copy, all at once, each bounded by the check's timeout.

use super::copy::{Copy, Phase};
use skiff_api::service::HealthCheck;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Whether each address answered the health check with a 2xx in time, in order.
pub(super) async fn check_all(http: &reqwest::Client, health: &HealthCheck, addrs: &[SocketAddr]) -> Vec<bool> {
    let timeout = Duration::from_millis(health.timeout_ms);
    let checks = addrs.iter().map(|addr| {
        let req = http.get(format!("http://{addr}{}", health.path)).timeout(timeout);
        async move { matches!(req.send().await, Ok(r) if r.status().is_success()) }
    });
    futures_util::future::join_all(checks).await
}

/// What one probe result means for a copy.
#[derive(Debug, PartialEq)]
pub(super) enum Verdict {
    /// Enough passes in a row: into rotation.
    BecameHealthy,
    /// Enough failures in a row (past the grace period, or while serving): replace it.
    Failed,
    Unchanged,
}

/// Counts a probe result on `copy` and schedules its next probe.
pub(super) fn record(copy: &mut Copy, ok: bool, health: &HealthCheck) -> Verdict {
    copy.next_probe = Instant::now() + Duration::from_millis(health.interval_ms);
    if ok {
        copy.passes += 1;
        copy.fails = 0;
        // An adopted copy served before: one pass puts it back.
        let needed = if copy.adopted { 1 } else { health.healthy_threshold };
        if copy.phase == Phase::Starting && copy.passes >= needed {
            copy.phase = Phase::Healthy;
            copy.proven = true;
            return Verdict::BecameHealthy;
        }
        return Verdict::Unchanged;
    }
    copy.passes = 0;
    copy.fails += 1;
    let counts = copy.phase == Phase::Healthy || copy.started.elapsed() >= Duration::from_millis(health.grace_period_ms);
    if counts && copy.fails >= health.unhealthy_threshold {
        Verdict::Failed
    } else {
        Verdict::Unchanged
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    #[test]
    fn passes_put_a_copy_in_rotation_and_failures_count_only_after_the_grace() {
        let health = HealthCheck { healthy_threshold: 2, unhealthy_threshold: 2, grace_period_ms: 60_000, ..Default::default() };
        let mut copy = Copy::new("c".into(), "n".into(), 1, SocketAddr::from(([10, 0, 0, 1], 80)), false);
        assert_eq!(record(&mut copy, true, &health), Verdict::Unchanged);
        assert_eq!(record(&mut copy, true, &health), Verdict::BecameHealthy);
        assert_eq!(record(&mut copy, false, &health), Verdict::Unchanged);
        assert_eq!(record(&mut copy, false, &health), Verdict::Failed, "a serving copy's failures count at once");
        let mut starting = Copy::new("d".into(), "n".into(), 1, SocketAddr::from(([10, 0, 0, 2], 80)), false);
        for _ in 0..5 {
            assert_eq!(record(&mut starting, false, &health), Verdict::Unchanged, "still within its grace period");
        }
    }
}
