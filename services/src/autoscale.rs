//! Target tracking on in-flight requests per copy, like Application Auto Scaling's target
//! tracking on a load balancer's requests per target: the desired count is the average load over
//! a window divided by the target, kept within min..max, changed no sooner than a cooldown after
//! the last change (scale-out cooldowns are usually short, scale-in ones long, so a dip does not
//! take away copies that the next burst needs).

use skiff_api::service::Autoscaling;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How much history the average covers.
pub(crate) const WINDOW: Duration = Duration::from_secs(6);

pub(crate) struct Autoscaler {
    samples: VecDeque<(Instant, usize)>,
    /// Starts at creation, so a (re)started server does not scale in on its first, idle sample.
    last_change: Instant,
    since: Instant,
}

impl Autoscaler {
    pub(crate) fn new(now: Instant) -> Self {
        Self { samples: VecDeque::new(), last_change: now, since: now }
    }

    /// Records the in-flight total seen now and returns a new desired count if one is due.
    pub(crate) fn observe(&mut self, now: Instant, in_flight: usize, current: u32, policy: &Autoscaling) -> Option<u32> {
        self.samples.push_back((now, in_flight));
        while self.samples.front().is_some_and(|(t, _)| now.duration_since(*t) > WINDOW) {
            self.samples.pop_front();
        }
        let average = self.samples.iter().map(|(_, n)| *n as f64).sum::<f64>() / self.samples.len() as f64;
        let wanted = ((average / policy.target_in_flight).ceil() as u32).clamp(policy.min, policy.max);
        let since = now.duration_since(self.last_change);
        let due = match wanted.cmp(&current) {
            std::cmp::Ordering::Greater => since >= Duration::from_secs(policy.scale_out_cooldown_s),
            // Scaling in also needs a full window of history, not a few idle samples.
            std::cmp::Ordering::Less => since >= Duration::from_secs(policy.scale_in_cooldown_s) && now.duration_since(self.since) >= WINDOW,
            std::cmp::Ordering::Equal => false,
        };
        if due {
            self.last_change = now;
            Some(wanted)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_out_on_load_and_in_after_the_cooldown() {
        let policy = Autoscaling { min: 1, max: 4, target_in_flight: 2.0, scale_out_cooldown_s: 1, scale_in_cooldown_s: 5 };
        let t0 = Instant::now();
        let mut a = Autoscaler::new(t0);
        assert_eq!(a.observe(t0, 0, 1, &policy), None, "idle at min");
        assert_eq!(a.observe(t0 + Duration::from_millis(500), 14, 1, &policy), None, "scale-out cooldown from creation");
        // 14 in flight against a target of 2 per copy: 4 copies (capped at max).
        assert_eq!(a.observe(t0 + Duration::from_millis(1000), 14, 1, &policy), Some(4));
        assert_eq!(a.observe(t0 + Duration::from_millis(1250), 14, 4, &policy), None);
        // Load gone: the average falls once the busy samples leave the window, and the scale-in
        // cooldown must pass as well.
        let later = t0 + Duration::from_millis(1250) + WINDOW + Duration::from_millis(1);
        assert_eq!(a.observe(later, 0, 4, &policy), Some(1));
        // A server that starts with copies above the minimum and no load keeps them until a full
        // window has shown it does not need them.
        let mut b = Autoscaler::new(t0);
        assert_eq!(b.observe(t0 + Duration::from_secs(1), 0, 3, &policy), None);
        assert_eq!(b.observe(t0 + Duration::from_secs(5), 0, 3, &policy), None, "scale-in cooldown");
        assert_eq!(b.observe(t0 + WINDOW, 0, 3, &policy), Some(1));
    }
}
