//! Container functions: Docker images running a Lambda runtime client.
//!
//! Every container runs `skiff-agent` as PID 1 (see the `agent` crate): the agent serves the
//! Lambda Runtime API on the container's own loopback by relaying to a Unix socket that belongs to
//! that one container ([`link`]), so containers run with no network by default, reach nothing but
//! their own Runtime API, and cannot impersonate each other. A [`ContainerInstance`] is one such
//! container serving one invocation at a time; [`pool::ContainerPool`] keeps the warm containers of one function version.

mod backend;
mod budget;
mod build;
pub(crate) mod docker;
mod instance;
mod link;
mod pool;
mod registry;
mod runtime_api;
mod sandbox;
mod socket;
mod zip_image;

pub use backend::{agent_near, BackendOptions, ContainerBackend};
pub use budget::{fits, BudgetLimits, Caps, Exhausted, HostBudget};
pub use build::build_image;
pub use docker::ImageSpec;
pub use instance::{ContainerInstance, RunResult, StartError};
pub use pool::{ContainerPool, WarmCount};
pub use registry::{is_pullable, push_image};
pub use sandbox::{cpu_nanos, ContainerSpec, AGENT_PATH_IN_CONTAINER, RUNTIME_API_ADDR};
pub use zip_image::{runtime_image, ZipCode};

/// Labels every Skiff container carries, so an operator (and Skiff after a restart) can find them.
pub mod labels {
    /// The server's owner id (one per data dir): containers of other Skiff servers are never touched.
    pub const OWNER: &str = "skiff.owner";
    pub const FUNCTION: &str = "skiff.function";
    pub const VERSION: &str = "skiff.version";
    pub const WORKER: &str = "skiff.worker";
    /// On service containers: the service, its revision, and the container's instance id.
    pub const SERVICE: &str = "skiff.service";
    pub const REVISION: &str = "skiff.revision";
}
