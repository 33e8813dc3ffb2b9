//! What one copy (of a service, or a one-off task) is made of: one or more containers sharing a
//! network namespace, started in dependency order.
//!
//! The first container started holds the namespace: it joins [`super::NETWORK`] and, in
//! cluster mode, publishes the copy's traffic port on the node's address (ports belong to the
//! namespace, so whichever container listens is reached). Every other container joins it with
//! Docker's `container:` network mode, so a sidecar is reached over localhost. The holder's
//! container id is the copy's id; the others carry [`MEMBER_OF`] naming it, so stopping,
//! waiting on and reading the logs of a copy covers all of them.

use std::time::Duration;

/// Label on a copy's other containers: the holder's container id.
pub(crate) const MEMBER_OF: &str = "skiff.member-of";
/// Label on every container of a copy: whether its exit ends the copy.
pub(crate) const ESSENTIAL: &str = "skiff.essential";
/// Label on every container of a copy: its name in the task definition.
pub(crate) const CONTAINER_NAME: &str = "skiff.container";

/// When a container may start, relative to one started before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAfter {
    /// It has started.
    Started,
    /// It has exited (any code).
    Exited,
    /// It has exited with code 0.
    Succeeded,
    /// Its health check passes.
    Healthy,
}

/// A health check run inside a container by the engine.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthCommand {
    /// `["CMD", ...]` or `["CMD-SHELL", "..."]`.
    pub test: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub retries: u32,
    pub start_period: Duration,
}

impl HealthCommand {
    /// The longest a container may take to become healthy.
    pub(crate) fn deadline(&self) -> Duration {
        self.start_period + (self.interval + self.timeout) * (self.retries + 1)
    }
}

/// One container of a copy. The image is resolved already.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerSpec {
    pub name: String,
    pub image: crate::container::ImageSpec,
    /// Replace the image's ENTRYPOINT and CMD when set, like `docker run --entrypoint` and its
    /// arguments.
    pub entrypoint: Option<Vec<String>>,
    pub command: Option<Vec<String>>,
    pub env: Vec<(String, String)>,
    /// Its exit ends the copy.
    pub essential: bool,
    /// Its own memory limit (MiB); the copy's limit otherwise.
    pub memory_mb: Option<u32>,
    pub health: Option<HealthCommand>,
    /// Containers earlier in the copy's list this one waits for, by index.
    pub after: Vec<(usize, StartAfter)>,
}

/// Whose copy it is: the labels that find it again.
#[derive(Debug, Clone, PartialEq)]
pub enum Identity {
    Service {
        name: String,
        revision: u64,
        /// Which life of the service name this is (its creation time): a service deleted and
        /// created again under the same name never adopts or stops the other one's copies.
        incarnation: u64,
    },
    /// A one-off task (not listed among service copies).
    Task { id: String, family: String },
}

/// A copy: its containers in start order (each after those it waits for), and what they share.
#[derive(Debug, Clone, PartialEq)]
pub struct CopySpec {
    pub identity: Identity,
    /// The port that takes traffic (`/svc` and health checks), if any (a one-off task has
    /// none).
    pub port: Option<u16>,
    /// Memory limit per container without its own (MiB), and the copy's CPU limit in
    /// billionths of a CPU.
    pub memory_mb: u32,
    pub nano_cpus: i64,
    pub containers: Vec<ContainerSpec>,
}

impl CopySpec {
    /// The engine's health check settings for `c`.
    pub(crate) fn health_config(c: &ContainerSpec) -> Option<bollard::models::HealthConfig> {
        let h = c.health.as_ref()?;
        let ns = |d: Duration| d.as_nanos() as i64;
        Some(bollard::models::HealthConfig {
            test: Some(h.test.clone()),
            interval: Some(ns(h.interval)),
            timeout: Some(ns(h.timeout)),
            retries: Some(i64::from(h.retries)),
            start_period: Some(ns(h.start_period)),
            ..Default::default()
        })
    }
}

/// How a container of a copy ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ContainerExit {
    pub name: String,
    pub essential: bool,
    pub running: bool,
    pub exit_code: Option<i64>,
    /// Set when the engine stopped it for its memory limit.
    pub oom_killed: bool,
}
