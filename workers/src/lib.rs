//! Execution backends for Skiff functions.
//!
//! Everything above this crate (the invoker, the gateway) sees a deployed function version only
//! through the [`Worker`] trait: hand it an [`Invocation`] (or, to a function that speaks HTTP,
//! an [`HttpCall`] whose response streams back), get back an [`Execution`]. The
//! backend decides what "isolated execution" means — for Wasm a fresh instance from a
//! pre-instantiated template; for containers a warm container serving one call at a time (its pool lives in the invoker).

pub mod container;
mod http_call;
pub mod service;
mod types;
pub mod wasm;
mod worker;

pub use http_call::{BodyEnd, BoxError, Capped, HttpAnswer, HttpBody, HttpBodyError, HttpCall};
pub use types::{
    ErrorType, Execution, ExecutionSpec, FunctionError, Invocation, Outcome, ReusePolicy, WorkerError, MAX_LOG_BYTES, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES,
};
pub use worker::{Worker, WorkerFuture};
