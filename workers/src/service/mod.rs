//! Service containers: long-running copies of an image serving HTTP on a port, as opposed to
//! function containers that serve one invocation at a time through the agent.
//!
//! Every copy joins one user-defined bridge network, [`NETWORK`]. On a single node the gateway
//! reaches it at its address there (no published host ports, so no userland proxy and no port
//! clashes). A cluster node publishes each copy's port on the node's own address instead (an
//! engine-chosen host port), so gateways on other hosts reach it too. The gateway itself
//! listens on loopback, so copies cannot reach the control plane. Copies get the
//! same lockdown as functions (no capabilities, no new privileges, read-only root with a
//! writable `/tmp`, a pids limit), memory and CPU limits, and the engine's `json-file` log driver
//! with rotation so `skiff service logs` can read what they printed.
//!
//! Containers carry the owner, service and revision labels: after a restart the server finds its
//! copies by label and adopts them, so they outlive the server process. A copy may be several
//! containers sharing one network namespace ([`copy`]); one-off tasks run the same way
//! ([`group`]) under a task label instead of a service's.

mod body;
pub mod copy;
mod group;

pub use copy::{ContainerExit, ContainerSpec, CopySpec, HealthCommand, Identity, StartAfter};

use crate::container::docker::{self, internal};
use crate::container::{labels, ContainerBackend, ImageSpec};
use crate::WorkerError;
use bollard::models::{ContainerSummaryStateEnum, EndpointSettings, NetworkCreateRequest, PortSummary};
use bollard::Docker;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

/// The Docker network every service copy joins.
pub const NETWORK: &str = "skiff-services";
const INCARNATION: &str = "skiff.incarnation";
const PORT: &str = "skiff.port";
/// Label on a one-off task's containers: the task's id.
pub const TASK: &str = "skiff.task";

/// A container's address on [`NETWORK`], from the engine's per-network settings.
fn ip_on_network(networks: Option<HashMap<String, EndpointSettings>>) -> Option<IpAddr> {
    networks?.remove(NETWORK)?.ip_address?.parse().ok()
}

/// The host port `port` is published on, from a container listing.
fn published_in(ports: Option<&[PortSummary]>, port: u16) -> Option<u16> {
    ports?.iter().find(|p| p.private_port == port && p.public_port.is_some()).and_then(|p| p.public_port)
}

/// A copy as the engine reports it.
#[derive(Debug, Clone)]
pub struct ServiceContainer {
    pub id: String,
    pub service: String,
    pub revision: u64,
    pub incarnation: u64,
    /// The port it was started to listen on.
    pub port: u16,
    pub running: bool,
    /// Where it is reached: its address on [`NETWORK`], or the published port on the node's
    /// address — once it has one.
    pub address: Option<SocketAddr>,
    /// Seconds since the epoch.
    pub created: i64,
}

/// Starts, lists, stops and reads the logs of service copies. Cheap to clone.
#[derive(Clone)]
pub struct ServiceRuntime {
    docker: Docker,
    backend: ContainerBackend,
    owner: String,
    /// The node address copies' ports are published on (cluster mode), or `None` to reach
    /// them on [`NETWORK`].
    publish: Option<IpAddr>,
}

impl ServiceRuntime {
    /// Uses the function backend's engine connection and owner id, and makes sure the services
    /// network exists.
    pub async fn new(backend: &ContainerBackend, publish: Option<IpAddr>) -> Result<Self, WorkerError> {
        let this = Self { docker: backend.inner.docker.clone(), backend: backend.clone(), owner: backend.options().owner.clone(), publish };
        this.ensure_network().await?;
        Ok(this)
    }

    /// The image `reference` (resolved to `id` when known), pulled by digest from its registry
    /// when this engine does not have it yet (see [`ContainerBackend::resolve_image`]).
    pub async fn resolve_image(&self, reference: &str, id: Option<&str>) -> Result<ImageSpec, WorkerError> {
        self.backend.resolve_image(reference, id).await
    }

    /// Where a copy listening on `port` is reached, from what the engine reports of it.
    fn reach(&self, port: u16, ip: Option<IpAddr>, published: Option<u16>) -> Option<SocketAddr> {
        match self.publish {
            Some(host) => published.map(|p| SocketAddr::new(host, p)),
            None => ip.map(|ip| SocketAddr::new(ip, port)),
        }
    }

    async fn ensure_network(&self) -> Result<(), WorkerError> {
        let request = NetworkCreateRequest {
            name: NETWORK.into(),
            driver: Some("bridge".into()),
            labels: Some(HashMap::from([("skiff.network".to_string(), "services".to_string())])),
            ..Default::default()
        };
        docker::ensure_network(&self.docker, request).await
    }

    pub async fn inspect_image(&self, reference: &str) -> Result<ImageSpec, WorkerError> {
        docker::inspect_image(&self.docker, reference).await
    }

    /// Every copy of this server's services (of `service` only, if given), running or not.
    pub async fn list(&self, service: Option<&str>) -> Result<Vec<ServiceContainer>, WorkerError> {
        let kind = match service {
            Some(name) => format!("{}={name}", labels::SERVICE),
            None => labels::SERVICE.to_string(),
        };
        let summaries = docker::list_labelled(&self.docker, &self.owner, &kind).await?;
        Ok(summaries
            .into_iter()
            .filter_map(|c| {
                let labels = c.labels.unwrap_or_default();
                if labels.contains_key(copy::MEMBER_OF) {
                    return None; // one of a copy's other containers: the holder stands for it
                }
                let ip = ip_on_network(c.network_settings.and_then(|n| n.networks));
                let port: u16 = labels.get(PORT)?.parse().ok()?;
                Some(ServiceContainer {
                    id: c.id?,
                    service: labels.get(labels::SERVICE)?.clone(),
                    revision: labels.get(labels::REVISION)?.parse().ok()?,
                    incarnation: labels.get(INCARNATION)?.parse().ok()?,
                    port,
                    running: c.state == Some(ContainerSummaryStateEnum::RUNNING),
                    address: self.reach(port, ip, published_in(c.ports.as_deref(), port)),
                    created: c.created.unwrap_or(0),
                })
            })
            .collect())
    }

    /// The holder containers of this server's one-off tasks, running or not.
    pub async fn task_containers(&self) -> Result<Vec<String>, WorkerError> {
        let summaries = docker::list_labelled(&self.docker, &self.owner, TASK).await?;
        Ok(summaries.into_iter().filter(|c| !c.labels.as_ref().is_some_and(|l| l.contains_key(copy::MEMBER_OF))).filter_map(|c| c.id).collect())
    }

    /// Where a running copy is reached (see [`ServiceContainer::address`]).
    pub async fn address(&self, id: &str, port: u16) -> Result<Option<SocketAddr>, WorkerError> {
        let info = self.docker.inspect_container(id, None).await.map_err(|e| internal("inspect container", e))?;
        let running = info.state.as_ref().and_then(|s| s.running).unwrap_or(false);
        let settings = info.network_settings.unwrap_or_default();
        let published = settings
            .ports
            .and_then(|mut ports| ports.remove(&format!("{port}/tcp")))
            .flatten()
            .and_then(|bindings| bindings.into_iter().find_map(|b| b.host_port?.parse().ok()));
        let ip = ip_on_network(settings.networks);
        Ok(self.reach(port, ip, published).filter(|_| running))
    }
}
