//! The `tail` query parameter of the log routes: how many lines, within bounds.

use crate::errors::AwsError;
use crate::http::{query_param, Resp};

const DEFAULT_LOG_LINES: usize = 100;
const MAX_LOG_LINES: usize = 10_000;

/// The lines asked for (100 when not given), or the 400 answer to a bad value.
pub(crate) fn lines(query: Option<&str>) -> Result<usize, Resp> {
    match query_param(query, "tail").map(|t| t.parse::<usize>()) {
        None => Ok(DEFAULT_LOG_LINES),
        Some(Ok(n)) if (1..=MAX_LOG_LINES).contains(&n) => Ok(n),
        Some(_) => Err(AwsError::InvalidParameterValue.response(format!("tail must be 1..{MAX_LOG_LINES}"))),
    }
}
