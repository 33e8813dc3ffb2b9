//! Execution backends for Skiff functions.
//!
//! Everything above this crate (the invoker, the gateway) sees a deployed function version only
//! through the [`Worker`] trait: hand it an [`Invocation`], get back an [`Execution`]. The
//! backend decides what "isolated execution" means — for Wasm a fresh instance from a
//! pre-instantiated template; for containers a warm container serving one call at a time (its pool lives in the invoker).

pub mod container;
pub mod service;
mod types;
pub mod wasm;

pub use types::{
    ErrorType, Execution, FunctionError, Invocation, Outcome, WorkerError, WorkerFuture,
    ExecutionSpec, ReusePolicy, Worker, MAX_LOG_BYTES, MAX_RESPONSE_BYTES,
};
