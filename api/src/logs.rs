//! Invocation logs as `skiff logs` and the logs API show them.

use serde::{Deserialize, Serialize};

/// One invocation's log, Lambda-style: START, what the function wrote, END, REPORT.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogEntry {
    pub request_id: String,
    pub function: String,
    pub version: u64,
    /// Unix milliseconds at the end of the invocation.
    pub timestamp_ms: u64,
    /// `success`, or the error type.
    pub outcome: String,
    pub text: String,
}
