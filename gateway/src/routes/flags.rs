//! The yes/no query parameters (`follow`): `true`/`1` or `false`/`0`, absent meaning no. Any
//! other value is a 400 naming the parameter, never silently "no" — a caller who wrote
//! `follow=yes` should learn that it was not understood rather than get a different answer.

use crate::errors::AwsError;
use crate::http::{query_param, Resp};

/// One yes/no parameter, by its name.
pub(crate) struct Flag {
    name: &'static str,
}

/// Whether a function's log is followed as a stream.
pub(crate) const FOLLOW: Flag = Flag { name: "follow" };

impl Flag {
    /// Whether `query` sets the flag (no when it is absent), or the 400 answer.
    pub(crate) fn read(&self, query: Option<&str>) -> Result<bool, Resp> {
        match query_param(query, self.name).as_deref() {
            None | Some("false" | "0") => Ok(false),
            Some("true" | "1") => Ok(true),
            Some(_) => Err(AwsError::InvalidParameterValue.response(format!("{} must be true or false", self.name))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flag_is_absent_true_false_or_refused() {
        assert_eq!(FOLLOW.read(None).ok(), Some(false));
        assert_eq!(FOLLOW.read(Some("limit=3")).ok(), Some(false));
        assert_eq!(FOLLOW.read(Some("follow=true")).ok(), Some(true));
        assert_eq!(FOLLOW.read(Some("follow=1")).ok(), Some(true));
        assert_eq!(FOLLOW.read(Some("follow=false")).ok(), Some(false));
        assert_eq!(FOLLOW.read(Some("follow=0")).ok(), Some(false));
        for wrong in ["follow=null", "follow=", "follow=yes", "follow=TRUE2"] {
            let refused = FOLLOW.read(Some(wrong)).expect_err(wrong);
            assert_eq!(refused.status(), 400, "{wrong}");
        }
    }
}
