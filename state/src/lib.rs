//! What Skiff keeps and what it moves, behind ports a cluster can implement differently:
//!
//! - [`config`]: function, trigger and service definitions with revisions, compare-and-swap
//!   writes and a watch of changes (single node: redb);
//! - [`blobs`]: content-addressed code (single node: files under the data dir);
//! - [`status`]: what happened to each asynchronous invocation;
//! - [`queue`]: the durable queue under async invocations and triggers (RabbitMQ or embedded);
//! - [`lease`]: who may run a singleton task such as a service's reconciler (single node:
//!   always this node);
//! - [`shares`]: this node's part of a function's reserved concurrency (single node: all).
//!
//! Nothing here knows about functions running: this crate sits below the invoker and the
//! services, and above only `skiff-api`.

// redb's error type is large, and group-commit closures return it as is: boxing each would
// only move the cost to the (rare) error path's callers.
#![allow(clippy::result_large_err)]

pub mod blobs;
pub mod config;
mod db_file;
pub mod error;
mod group_commit;
pub mod health;
pub mod lease;
pub mod queue;
pub mod shares;
pub mod status;

pub use error::StoreError;
