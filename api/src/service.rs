//! A service's definition as deployed and persisted: what runs (the revision's spec), how many,
//! how it is checked, rolled out and scaled. Shaped like an ECS service and its task definition.

use crate::error::Invalid;
use crate::names::check_service_name;
use crate::placement::Placement;
use crate::taskdef::ContainerDefinition;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Most copies a service may ask for, by hand or by autoscaling.
pub const MAX_COUNT: u32 = 64;

/// What one revision runs. A deploy that changes any of it makes a new revision and rolls out.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ServiceSpec {
    /// The image as the user named it; `image_id` is what it resolved to and what runs.
    pub image: String,
    pub image_id: String,
    /// Replaces the image's ENTRYPOINT when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// Replaces the image's CMD when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    pub env: BTreeMap<String, String>,
    pub port: u16,
    pub memory_mb: u32,
    /// vCPUs (0.01 and up).
    pub cpu: f64,
    pub health: HealthCheck,
    /// Every container of a copy, when deployed from a task definition (the fields above then
    /// describe its entry container, the one that takes traffic); empty for the short form.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<ContainerDefinition>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    /// An HTTP GET on this path must answer 2xx.
    #[serde(default = "d_path")]
    pub path: String,
    #[serde(default = "d_interval")]
    pub interval_ms: u64,
    #[serde(default = "d_timeout")]
    pub timeout_ms: u64,
    /// Consecutive passes that put a starting copy into rotation.
    #[serde(default = "d_healthy")]
    pub healthy_threshold: u32,
    /// Consecutive failures that take a copy out and replace it.
    #[serde(default = "d_unhealthy")]
    pub unhealthy_threshold: u32,
    /// How long a starting copy's failures do not count (it may still be booting).
    #[serde(default = "d_grace")]
    pub grace_period_ms: u64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DeploymentSettings {
    /// Healthy copies kept during a rollout, as a percentage of the desired count (rounded up).
    #[serde(default = "d_min_healthy")]
    pub min_healthy_percent: u32,
    /// Extra copies a rollout may start above the desired count, as a percentage (rounded up).
    #[serde(default = "d_max_surge")]
    pub max_surge_percent: u32,
    /// How long a copy taken out of rotation may finish its requests before it is stopped.
    #[serde(default = "d_drain")]
    pub drain_timeout_ms: u64,
}

/// Target tracking on in-flight requests per copy.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Autoscaling {
    pub min: u32,
    pub max: u32,
    pub target_in_flight: f64,
    #[serde(default = "d_out_cooldown")]
    pub scale_out_cooldown_s: u64,
    #[serde(default = "d_in_cooldown")]
    pub scale_in_cooldown_s: u64,
}

fn d_path() -> String {
    "/".into()
}
fn d_interval() -> u64 {
    2000
}
fn d_timeout() -> u64 {
    1000
}
fn d_healthy() -> u32 {
    2
}
fn d_unhealthy() -> u32 {
    3
}
fn d_grace() -> u64 {
    10_000
}
fn d_min_healthy() -> u32 {
    100
}
fn d_max_surge() -> u32 {
    100
}
fn d_drain() -> u64 {
    30_000
}
fn d_out_cooldown() -> u64 {
    5
}
fn d_in_cooldown() -> u64 {
    30
}

impl Default for HealthCheck {
    fn default() -> Self {
        serde_json::from_str("{}").expect("defaults")
    }
}

impl Default for DeploymentSettings {
    fn default() -> Self {
        serde_json::from_str("{}").expect("defaults")
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RolloutState {
    InProgress,
    Completed,
    /// The new revision never became healthy; the previous one serves again.
    RolledBack,
    /// The first revision never became healthy (nothing to roll back to); still retrying.
    Failing,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Rollout {
    pub revision: u64,
    pub state: RolloutState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub updated_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PreviousRevision {
    pub revision: u64,
    pub spec: ServiceSpec,
}

/// A service as persisted and as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ServiceConfig {
    pub name: String,
    pub spec: ServiceSpec,
    /// The revision that should be running.
    pub revision: u64,
    /// The highest revision ever made, so a new one never reuses a rolled-back number.
    pub last_revision: u64,
    pub desired_count: u32,
    pub deployment: DeploymentSettings,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<Autoscaling>,
    #[serde(default)]
    pub placement: Placement,
    pub request_timeout_ms: u64,
    /// What a failed rollout goes back to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<PreviousRevision>,
    pub rollout: Rollout,
    pub created_ms: u64,
    pub updated_ms: u64,
}

/// The deploy body. `count` left out keeps the current desired count (1 on create); every
/// other field left out takes its default.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceRequest {
    /// The short form's one image; left out with `task_definition`.
    #[serde(default)]
    pub image: String,
    /// An Amazon ECS task definition (its JSON as `register-task-definition` takes it) instead
    /// of `image` and the fields that describe a container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_definition: Option<serde_json::Value>,
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default)]
    pub command: Option<Vec<String>>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default = "d_port")]
    pub port: u16,
    #[serde(default)]
    pub count: Option<u32>,
    #[serde(default = "d_memory")]
    pub memory_mb: u32,
    #[serde(default = "d_cpu")]
    pub cpu: f64,
    #[serde(default)]
    pub health: HealthCheck,
    #[serde(default)]
    pub deployment: DeploymentSettings,
    #[serde(default)]
    pub autoscaling: Option<Autoscaling>,
    #[serde(default)]
    pub placement: Placement,
    #[serde(default = "d_request_timeout")]
    pub request_timeout_ms: u64,
}

fn d_port() -> u16 {
    8080
}
fn d_memory() -> u32 {
    256
}
fn d_cpu() -> f64 {
    0.25
}
fn d_request_timeout() -> u64 {
    30_000
}

fn check(ok: bool, what: impl FnOnce() -> String) -> Result<(), Invalid> {
    if ok {
        Ok(())
    } else {
        Err(Invalid(what()))
    }
}

/// Services share the function name rule: the name is also part of container names.
pub fn validate_service_name(name: &str) -> Result<(), Invalid> {
    check_service_name(name)
}

impl ServiceRequest {
    /// Checks everything that does not need the engine; nothing is changed when this fails.
    pub fn validate(&self) -> Result<(), Invalid> {
        match (&self.task_definition, self.image.trim().is_empty()) {
            (None, true) => return Err(Invalid("image (or task_definition) is required".into())),
            (Some(_), false) => return Err(Invalid("give either image or task_definition, not both".into())),
            _ => {}
        }
        check(self.port != 0, || "port must be 1..65535".into())?;
        if let Some(count) = self.count {
            check(count <= MAX_COUNT, || format!("count must be 0..{MAX_COUNT}"))?;
        }
        check((16..=65536).contains(&self.memory_mb), || "memory_mb must be 16..65536".into())?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        check(self.cpu >= 0.01 && self.cpu <= cores, || format!("cpu must be 0.01..{cores} (this machine's CPUs)"))?;
        for (what, list) in [("entrypoint", &self.entrypoint), ("command", &self.command)] {
            check(list.as_ref().is_none_or(|l| !l.is_empty()), || format!("{what}, when given, must not be empty"))?;
        }
        for key in self.env.keys() {
            check(!key.is_empty() && !key.contains('='), || format!("invalid environment variable name {key:?}"))?;
        }
        let h = &self.health;
        check(h.path.starts_with('/'), || "health.path must start with /".into())?;
        check((100..=300_000).contains(&h.interval_ms), || "health.interval_ms must be 100..300000".into())?;
        check(h.timeout_ms >= 10 && h.timeout_ms <= h.interval_ms, || "health.timeout_ms must be 10..interval_ms".into())?;
        check((1..=10).contains(&h.healthy_threshold), || "health.healthy_threshold must be 1..10".into())?;
        check((1..=10).contains(&h.unhealthy_threshold), || "health.unhealthy_threshold must be 1..10".into())?;
        check(h.grace_period_ms <= 600_000, || "health.grace_period_ms must be at most 600000".into())?;
        let d = &self.deployment;
        check(d.min_healthy_percent <= 100, || "deployment.min_healthy_percent must be 0..100".into())?;
        check(d.max_surge_percent <= 200, || "deployment.max_surge_percent must be 0..200".into())?;
        check(d.max_surge_percent > 0 || d.min_healthy_percent < 100, || {
            "deployment: with max_surge_percent 0, min_healthy_percent must be below 100 or a rollout could never progress".into()
        })?;
        check(d.drain_timeout_ms <= 900_000, || "deployment.drain_timeout_ms must be at most 900000".into())?;
        if let Some(a) = &self.autoscaling {
            // At zero copies nothing is in flight, so target tracking could never scale out again.
            check(a.min >= 1 && a.min <= a.max && a.max <= MAX_COUNT, || format!("autoscaling: need 1 <= min <= max <= {MAX_COUNT}"))?;
            check(a.target_in_flight.is_finite() && a.target_in_flight > 0.0, || "autoscaling.target_in_flight must be above 0".into())?;
            check(a.scale_out_cooldown_s <= 3600 && a.scale_in_cooldown_s <= 3600, || "autoscaling cooldowns must be at most 3600 s".into())?;
        }
        check((100..=900_000).contains(&self.request_timeout_ms), || "request_timeout_ms must be 100..900000".into())?;
        Ok(())
    }
}

/// Copies that must stay healthy during a rollout, and the most that may exist at once.
pub fn rollout_bounds(desired: u32, d: &DeploymentSettings) -> (u32, u32) {
    let min_healthy = (desired * d.min_healthy_percent).div_ceil(100);
    let max_total = desired + (desired * d.max_surge_percent).div_ceil(100);
    (min_healthy, max_total.max(1))
}

/// What a copy of a service is doing, as the API lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CopyState {
    /// Started, not yet passing its health check: takes no traffic.
    Starting,
    /// In rotation.
    Healthy,
    /// Out of rotation, finishing its requests before it is stopped.
    Draining,
}

impl std::fmt::Display for CopyState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CopyState::Starting => "starting",
            CopyState::Healthy => "healthy",
            CopyState::Draining => "draining",
        })
    }
}

/// One copy as the endpoints API lists it (service discovery).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EndpointView {
    pub id: String,
    /// The node it runs on.
    #[serde(default)]
    pub node: String,
    pub address: String,
    pub revision: u64,
    pub state: CopyState,
    pub in_flight: usize,
    pub served: u64,
}

/// A service as the API shows it: its definition and what is running.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceView {
    #[serde(flatten)]
    pub config: ServiceConfig,
    pub running_count: usize,
    pub healthy_count: usize,
    pub copies: Vec<EndpointView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Why copies wanted are not running: no node satisfies the placement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<String>,
}

/// What the scheduler last placed for a service: its copies on every node, and why any copy
/// could not be placed. Stored per service, so every node routes and reports by it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Placed {
    pub copies: Vec<EndpointView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<String>,
}

impl Placed {
    /// Whether `other` differs in anything but the copies' live counters (requests in flight
    /// and served), which change with every request and are not worth a store write.
    pub fn differs_from(&self, other: &Placed) -> bool {
        let settled = |p: &Placed| {
            let copies: Vec<EndpointView> = p.copies.iter().map(|c| EndpointView { in_flight: 0, served: 0, ..c.clone() }).collect();
            (copies, p.last_error.clone(), p.pending.clone())
        };
        settled(self) != settled(other)
    }
}

impl ServiceView {
    /// The view of `config` with what is placed: counts follow the copies' states.
    pub fn new(config: ServiceConfig, placed: Placed) -> Self {
        let Placed { copies, last_error, pending } = placed;
        Self {
            running_count: copies.iter().filter(|c| c.state != CopyState::Draining).count(),
            healthy_count: copies.iter().filter(|c| c.state == CopyState::Healthy).count(),
            config,
            copies,
            last_error,
            pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: serde_json::Value) -> Result<ServiceRequest, String> {
        let r: ServiceRequest = serde_json::from_value(json).map_err(|e| e.to_string())?;
        r.validate().map_err(|e| e.to_string())?;
        Ok(r)
    }

    #[test]
    fn defaults_apply_and_bad_settings_are_refused() {
        let r = request(serde_json::json!({"image": "x"})).unwrap();
        assert_eq!((r.port, r.memory_mb, r.health.path.as_str(), r.health.healthy_threshold), (8080, 256, "/", 2));
        assert_eq!((r.deployment.min_healthy_percent, r.deployment.max_surge_percent), (100, 100));
        for bad in [
            serde_json::json!({"image": "x", "port": 0}),
            serde_json::json!({"image": "x", "count": 65}),
            serde_json::json!({"image": "x", "cpu": 0.0}),
            serde_json::json!({"image": "x", "health": {"path": "healthz"}}),
            serde_json::json!({"image": "x", "health": {"interval_ms": 500, "timeout_ms": 600}}),
            serde_json::json!({"image": "x", "deployment": {"max_surge_percent": 0}}),
            serde_json::json!({"image": "x", "autoscaling": {"min": 3, "max": 2, "target_in_flight": 1}}),
            serde_json::json!({"image": "x", "colour": "red"}),
        ] {
            assert!(request(bad.clone()).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn rollout_bounds_round_up() {
        let d = |min, surge| DeploymentSettings { min_healthy_percent: min, max_surge_percent: surge, drain_timeout_ms: 0 };
        assert_eq!(rollout_bounds(3, &d(100, 100)), (3, 6));
        assert_eq!(rollout_bounds(3, &d(50, 0)), (2, 3));
        assert_eq!(rollout_bounds(1, &d(100, 25)), (1, 2));
        assert_eq!(rollout_bounds(0, &d(100, 100)), (0, 1));
    }
}
