//! A function's asynchronous-invocation settings, like Lambda's event invoke config.

use crate::error::Invalid;
use crate::names::{check_function_name, check_user_queue_name, BrokerObject};
use serde::{Deserialize, Serialize};
use std::time::Duration;

const MAX_RETRIES: u32 = 10;
const MAX_EVENT_AGE_S: u32 = 21_600;
const RETRY_DELAY_MS: std::ops::RangeInclusive<u32> = 10..=300_000;
/// No single backoff delay is longer than this, however many attempts were made.
const MAX_DELAY: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EventConfig {
    /// Retries after the first failed attempt (Lambda's default: 2).
    pub max_retries: u32,
    /// An event older than this is not run again but dead-lettered (Lambda's default: 6 h).
    pub max_event_age_s: u32,
    /// The first retry waits about this long; each further one twice as long, with jitter.
    pub retry_delay_ms: u32,
    /// Where a record of each successful invocation goes, if anywhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_success: Option<Destination>,
    /// Whether these settings were configured rather than left at their defaults (Lambda's
    /// GetFunctionEventInvokeConfig answers 404 for a function that has none).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub explicit: bool,
}

impl Default for EventConfig {
    fn default() -> Self {
        Self { max_retries: 2, max_event_age_s: MAX_EVENT_AGE_S, retry_delay_ms: 1000, on_success: None, explicit: false }
    }
}

/// A destination: another function (invoked asynchronously with the record) or a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    Function(String),
    Queue(String),
}

impl std::str::FromStr for Destination {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        let bad = || Invalid(format!("invalid destination {s:?}: expected function:NAME or queue:NAME"));
        match s.split_once(':') {
            Some(("function", name)) => {
                check_function_name(name)?;
                Ok(Destination::Function(name.to_string()))
            }
            Some(("queue", name)) => {
                check_user_queue_name(BrokerObject::Queue, name)?;
                Ok(Destination::Queue(name.to_string()))
            }
            _ => Err(bad()),
        }
    }
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Destination::Function(n) => write!(f, "function:{n}"),
            Destination::Queue(n) => write!(f, "queue:{n}"),
        }
    }
}

impl Serialize for Destination {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Destination {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A partial change: `None` keeps the current value. `on_success: Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventConfigUpdate {
    pub max_retries: Option<u32>,
    pub max_event_age_s: Option<u32>,
    pub retry_delay_ms: Option<u32>,
    pub on_success: Option<Option<Destination>>,
    /// `Some(false)` resets every setting to its default (DeleteFunctionEventInvokeConfig);
    /// `None` marks the settings configured if any other field is given.
    pub explicit: Option<bool>,
}

impl EventConfigUpdate {
    /// Back to the defaults, as if never configured.
    pub fn reset() -> Self {
        let defaults = EventConfig::default();
        Self {
            max_retries: Some(defaults.max_retries),
            max_event_age_s: Some(defaults.max_event_age_s),
            retry_delay_ms: Some(defaults.retry_delay_ms),
            on_success: Some(None),
            explicit: Some(false),
        }
    }

    pub fn validate(&self) -> Result<(), Invalid> {
        if let Some(r) = self.max_retries.filter(|r| *r > MAX_RETRIES) {
            return Err(Invalid(format!("max_retries {r} is out of range: 0 to {MAX_RETRIES}")));
        }
        if let Some(a) = self.max_event_age_s.filter(|a| !(1..=MAX_EVENT_AGE_S).contains(a)) {
            return Err(Invalid(format!("max_event_age_s {a} is out of range: 1 to {MAX_EVENT_AGE_S} seconds")));
        }
        if let Some(d) = self.retry_delay_ms.filter(|d| !RETRY_DELAY_MS.contains(d)) {
            return Err(Invalid(format!("retry_delay_ms {d} is out of range: {} to {} ms", RETRY_DELAY_MS.start(), RETRY_DELAY_MS.end())));
        }
        Ok(())
    }

    pub fn apply(&self, old: Option<&EventConfig>) -> EventConfig {
        let old = old.cloned().unwrap_or_default();
        EventConfig {
            max_retries: self.max_retries.unwrap_or(old.max_retries),
            max_event_age_s: self.max_event_age_s.unwrap_or(old.max_event_age_s),
            retry_delay_ms: self.retry_delay_ms.unwrap_or(old.retry_delay_ms),
            on_success: self.on_success.clone().unwrap_or(old.on_success),
            explicit: self.explicit.unwrap_or(old.explicit || *self != Self::default()),
        }
    }
}

impl EventConfig {
    pub fn max_age(&self) -> Duration {
        Duration::from_secs(self.max_event_age_s.into())
    }

    /// The wait before the next attempt after `attempts` failed ones: exponential, capped, with
    /// "equal jitter" (uniform in the upper half), so retries of a burst spread out.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let full = exponential_delay(self.retry_delay_ms, attempts);
        let half = full / 2;
        let jitter = (uuid::Uuid::new_v4().as_u128() % 1_000_000) as f64 / 1_000_000.0;
        half + half.mul_f64(jitter)
    }
}

/// `base_ms` doubled for each attempt after the first, capped at [`MAX_DELAY`].
pub fn exponential_delay(base_ms: u32, attempts: u32) -> Duration {
    let exponent = attempts.saturating_sub(1).min(20);
    Duration::from_millis(u64::from(base_ms) << exponent).min(MAX_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_in_the_upper_half_and_is_capped() {
        let config = EventConfig { retry_delay_ms: 1000, ..Default::default() };
        for attempts in 1..=4u32 {
            let full = Duration::from_millis(1000 << (attempts - 1));
            for _ in 0..50 {
                let d = config.backoff(attempts);
                assert!(d >= full / 2 && d <= full, "attempt {attempts}: {d:?}");
            }
        }
        assert!(config.backoff(40) <= MAX_DELAY);
    }

    #[test]
    fn destinations_parse_and_reject_reserved_queues() {
        assert_eq!("function:next".parse::<Destination>().unwrap(), Destination::Function("next".into()));
        assert_eq!("queue:orders.done".parse::<Destination>().unwrap(), Destination::Queue("orders.done".into()));
        for bad in ["next", "function:bad name", "queue:skiff.fn.x", "queue:amq.rabbitmq.reply-to", "topic:x", "queue:", "queue:a b"] {
            assert!(bad.parse::<Destination>().is_err(), "{bad} accepted");
        }
        // The same rule as a trigger's queue: any queue a destination feeds, a trigger can read.
        for name in ["orders/v2#eu", "a:b", "x".repeat(200).as_str()] {
            assert_eq!(format!("queue:{name}").parse::<Destination>().unwrap(), Destination::Queue(name.into()));
            assert!(check_user_queue_name(BrokerObject::Queue, name).is_ok());
        }
        assert!(format!("queue:{}", "x".repeat(201)).parse::<Destination>().is_err());
    }

    #[test]
    fn updates_are_range_checked_and_keep_unset_fields() {
        assert!(EventConfigUpdate { max_retries: Some(11), ..Default::default() }.validate().is_err());
        assert!(EventConfigUpdate { max_event_age_s: Some(0), ..Default::default() }.validate().is_err());
        assert!(EventConfigUpdate { retry_delay_ms: Some(5), ..Default::default() }.validate().is_err());
        let old = EventConfig { max_retries: 0, ..Default::default() };
        let new = EventConfigUpdate { retry_delay_ms: Some(50), ..Default::default() }.apply(Some(&old));
        assert_eq!((new.max_retries, new.retry_delay_ms), (0, 50));
    }
}
