//! The one trait everything above this crate runs functions through.

use crate::http_call::HttpCall;
use crate::types::{Execution, Invocation, WorkerError};
use std::future::Future;
use std::pin::Pin;

pub type WorkerFuture = Pin<Box<dyn Future<Output = Result<Execution, WorkerError>> + Send>>;

/// A deployed function version, ready to run invocations.
///
/// Implementations must give every invocation an isolated execution, enforce the spec's memory
/// and timeout, and never block the caller's async runtime threads. The future may be dropped
/// (caller gone); the implementation must still release everything it holds.
pub trait Worker: Send + Sync + 'static {
    fn invoke(&self, invocation: Invocation) -> WorkerFuture;

    /// Whether the function takes HTTP requests as they are ([`Worker::serve_http`]) rather
    /// than as events.
    fn speaks_http(&self) -> bool {
        false
    }

    /// Serves one HTTP request, answering through `call.respond` as soon as the function
    /// responds; the future ends with the execution, once the response body is through. Only
    /// called on workers that [speak HTTP](Worker::speaks_http).
    fn serve_http(&self, call: HttpCall) -> WorkerFuture {
        drop(call);
        Box::pin(async { Err(WorkerError::Internal("this function takes events, not HTTP requests".into())) })
    }

    /// The version was replaced or deleted: release idle resources now, and anything still
    /// serving a call once that call ends. Backends that hold nothing between calls do nothing.
    fn retire(&self) {}
}
