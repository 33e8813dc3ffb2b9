//! The count parameters of the list routes (`tail`, `limit`): how many, within bounds. A value
//! that is not a number in range is a 400 naming the parameter, never silently the default.

use crate::errors::AwsError;
use crate::http::{query_param, Resp};

/// One count parameter: its name, what it is when absent, and its largest value.
pub(crate) struct Count {
    name: &'static str,
    default: usize,
    min: usize,
    max: usize,
}

/// Lines of a service's or task's log.
pub(crate) const TAIL: Count = Count { name: "tail", default: 100, min: 1, max: 10_000 };
/// Entries of a function's log (0: none of the earlier ones, as when only following).
pub(crate) const LOG_LIMIT: Count = Count { name: "limit", default: 20, min: 0, max: 10_000 };
/// Dead letters listed (0: only their total).
pub(crate) const DEAD_LETTER_LIMIT: Count = Count { name: "limit", default: 100, min: 0, max: 10_000 };

impl Count {
    /// The count asked for in `query` (the default when not given), or the 400 answer.
    pub(crate) fn read(&self, query: Option<&str>) -> Result<usize, Resp> {
        match query_param(query, self.name).map(|t| t.parse::<usize>()) {
            None => Ok(self.default),
            Some(Ok(n)) if (self.min..=self.max).contains(&n) => Ok(n),
            Some(_) => Err(AwsError::InvalidParameterValue.response(format!("{} must be a whole number {}..{}", self.name, self.min, self.max))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_the_default_a_number_in_range_or_refused() {
        assert_eq!(TAIL.read(None).ok(), Some(100));
        assert_eq!(LOG_LIMIT.read(Some("follow=true")).ok(), Some(20));
        assert_eq!(DEAD_LETTER_LIMIT.read(Some("limit=7")).ok(), Some(7));
        assert_eq!(LOG_LIMIT.read(Some("limit=0&follow=true")).ok(), Some(0), "following without a backlog");
        assert!(TAIL.read(Some("tail=0")).is_err());
        for bad in ["limit=abc", "limit=-1", "limit=10001", "limit="] {
            assert!(DEAD_LETTER_LIMIT.read(Some(bad)).is_err(), "{bad}");
        }
    }
}
