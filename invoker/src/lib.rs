//! The invoker: which functions exist (registry, persisted under the data dir), whether a call
//! may run now (concurrency limits), running it on the right worker, and what is remembered about
//! it afterwards (logs, metrics).

// redb's error type is large, and group-commit closures return it as is: boxing each would
// only move the cost to the (rare) error path's callers.
#![allow(clippy::result_large_err)]

mod config;
mod deploy;
mod error;
mod events;
mod invoker;
mod limits;
mod logs;
mod metrics;
mod pool;
mod queue;
mod registry;
mod services;
mod store;
mod tasks;
mod triggers;

pub use config::{
    validate_name, CodeInfo, DeployRequest, FunctionConfig, DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_S,
};
pub use error::{InvokerError, ThrottleScope};
pub use events::{
    DeadLetter, DeadLetterPage, Destination, EventConfig, EventConfigUpdate, InvocationState, InvocationStatus,
    MAX_ASYNC_PAYLOAD,
};
pub use queue::{QueueError, QueueRef};
pub use triggers::{TriggerConfig, TriggerRequest};
pub use invoker::{InvokeResult, Invoker, InvokerOptions};
pub use logs::LogEntry;
pub use metrics::Metrics;
pub use services::config::{Autoscaling, DeploymentSettings, HealthCheck, ServiceConfig, ServiceRequest};
pub use services::endpoints::{EndpointView, InFlight, ServiceRoute};
pub use services::ServiceView;
