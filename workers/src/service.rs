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
//! copies by label and adopts them, so they outlive the server process.

use crate::container::docker::{self, internal, not_found};
use crate::container::{labels, ContainerBackend, ImageSpec};
use crate::WorkerError;
use bollard::models::{
    ContainerCreateBody, ContainerSummaryStateEnum, EndpointSettings, HostConfig, HostConfigLogConfig,
    NetworkCreateRequest, NetworkingConfig, PortBinding, PortSummary,
};
use bollard::query_parameters::{LogsOptionsBuilder, StopContainerOptionsBuilder};
use bollard::Docker;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

/// The Docker network every service copy joins.
pub const NETWORK: &str = "skiff-services";
const PIDS_LIMIT: i64 = 4096;
const INCARNATION: &str = "skiff.incarnation";
const PORT: &str = "skiff.port";
const TMP_MOUNT_OPTIONS: &str = "rw,nosuid,nodev,size=512m";

/// A container's address on [`NETWORK`], from the engine's per-network settings.
fn ip_on_network(networks: Option<HashMap<String, EndpointSettings>>) -> Option<IpAddr> {
    networks?.remove(NETWORK)?.ip_address?.parse().ok()
}

/// The host port `port` is published on, from a container listing.
fn published_in(ports: Option<&[PortSummary]>, port: u16) -> Option<u16> {
    ports?.iter().find(|p| p.private_port == port && p.public_port.is_some()).and_then(|p| p.public_port)
}

/// One revision of a service, as the engine runs it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceContainerSpec {
    pub service: String,
    pub revision: u64,
    pub image: ImageSpec,
    /// Replace the image's ENTRYPOINT and CMD when set, like `docker run --entrypoint` and its
    /// arguments.
    pub entrypoint: Option<Vec<String>>,
    pub command: Option<Vec<String>>,
    pub env: Vec<(String, String)>,
    pub port: u16,
    pub memory_mb: u32,
    /// CPU limit in billionths of a CPU.
    pub nano_cpus: i64,
    /// Which life of the service name this is (its creation time): a service deleted and
    /// created again under the same name never adopts or stops the other one's copies.
    pub incarnation: u64,
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
        match self.docker.inspect_network(NETWORK, None).await {
            Ok(_) => return Ok(()),
            Err(e) if not_found(&e) => {}
            // "ambiguous": two servers created it at once (the engine does not stop that).
            Err(_) => return self.settle_duplicate_networks().await,
        }
        let request = NetworkCreateRequest {
            name: NETWORK.into(),
            driver: Some("bridge".into()),
            labels: Some(HashMap::from([("skiff.network".to_string(), "services".to_string())])),
            ..Default::default()
        };
        match self.docker.create_network(request).await {
            Ok(_) => {}
            // Another server created it meanwhile.
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 409, .. }) => {}
            Err(e) => return Err(internal("create network", e)),
        }
        self.settle_duplicate_networks().await
    }

    /// Servers that start at the same moment can each create the network (Docker checks names
    /// only best-effort), and a name that matches two networks is refused everywhere. Every
    /// server keeps the same one — the lowest id — and removes the others (one in use by a
    /// container stays, and the inspect below reports the ambiguity).
    async fn settle_duplicate_networks(&self) -> Result<(), WorkerError> {
        let filters = HashMap::from([("name".to_string(), vec![NETWORK.to_string()])]);
        let options = bollard::query_parameters::ListNetworksOptions { filters: Some(filters) };
        let found = self.docker.list_networks(Some(options)).await.map_err(|e| internal("list networks", e))?;
        let mut ids: Vec<String> =
            found.into_iter().filter(|n| n.name.as_deref() == Some(NETWORK)).filter_map(|n| n.id).collect();
        ids.sort();
        for duplicate in ids.iter().skip(1) {
            let _ = self.docker.remove_network(duplicate).await;
        }
        self.docker.inspect_network(NETWORK, None).await.map(drop).map_err(|e| internal("inspect network", e))
    }

    pub async fn inspect_image(&self, reference: &str) -> Result<ImageSpec, WorkerError> {
        docker::inspect_image(&self.docker, reference).await
    }

    /// Creates and starts one copy; returns its container id.
    pub async fn start(&self, spec: &ServiceContainerSpec, instance: &str) -> Result<String, WorkerError> {
        let name = format!("skiff-svc-{}-{}", spec.service, instance);
        docker::create_and_start(&self.docker, &name, self.create_body(spec)).await
    }

    fn create_body(&self, spec: &ServiceContainerSpec) -> ContainerCreateBody {
        let memory = i64::from(spec.memory_mb) << 20;
        let port_key = format!("{}/tcp", spec.port);
        let port_bindings = self.publish.map(|ip| {
            let binding = PortBinding { host_ip: Some(ip.to_string()), host_port: Some(String::new()) };
            HashMap::from([(port_key.clone(), Some(vec![binding]))])
        });
        let host_config = HostConfig {
            port_bindings,
            memory: Some(memory),
            memory_swap: Some(memory),
            nano_cpus: Some(spec.nano_cpus),
            pids_limit: Some(PIDS_LIMIT),
            cap_drop: Some(vec!["ALL".into()]),
            security_opt: Some(vec!["no-new-privileges".into()]),
            readonly_rootfs: Some(true),
            tmpfs: Some(HashMap::from([("/tmp".to_string(), TMP_MOUNT_OPTIONS.to_string())])),
            network_mode: Some(NETWORK.into()),
            log_config: Some(HostConfigLogConfig {
                typ: Some("json-file".into()),
                config: Some(HashMap::from([
                    ("max-size".to_string(), "10m".to_string()),
                    ("max-file".to_string(), "2".to_string()),
                ])),
            }),
            ..Default::default()
        };
        let mut env: Vec<String> = spec.image.env.clone();
        env.push(format!("PORT={}", spec.port));
        env.push(format!("SKIFF_SERVICE={}", spec.service));
        env.push(format!("SKIFF_REVISION={}", spec.revision));
        env.extend(spec.env.iter().map(|(k, v)| format!("{k}={v}")));
        let labels = HashMap::from([
            (labels::OWNER.to_string(), self.owner.clone()),
            (labels::SERVICE.to_string(), spec.service.clone()),
            (labels::REVISION.to_string(), spec.revision.to_string()),
            (INCARNATION.to_string(), spec.incarnation.to_string()),
            (PORT.to_string(), spec.port.to_string()),
        ]);
        ContainerCreateBody {
            image: Some(spec.image.id.clone()),
            entrypoint: spec.entrypoint.clone(),
            // A new ENTRYPOINT drops the image's CMD, as `docker run --entrypoint` does.
            cmd: spec.command.clone().or_else(|| spec.entrypoint.as_ref().map(|_| Vec::new())),
            env: Some(env),
            working_dir: spec.image.working_dir.clone(),
            user: spec.image.user.clone(),
            labels: Some(labels),
            exposed_ports: self.publish.map(|_| vec![port_key]),
            host_config: Some(host_config),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(NETWORK.to_string(), EndpointSettings::default())])),
            }),
            ..Default::default()
        }
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

    /// Resolves once the copy is no longer running (it exited, was killed or removed).
    pub async fn wait_stopped(&self, id: &str) {
        docker::wait_stopped(&self.docker, id).await
    }

    /// Stops a copy (SIGTERM, then SIGKILL after `grace_s`) and removes it.
    pub async fn stop(&self, id: &str, grace_s: i32) -> Result<(), WorkerError> {
        let options = StopContainerOptionsBuilder::default().t(grace_s).build();
        match self.docker.stop_container(id, Some(options)).await {
            Err(e) if !not_found(&e) => tracing::debug!(id, "stop: {e}"),
            _ => {}
        }
        docker::remove(&self.docker, id).await
    }

    /// The last `tail` lines a copy wrote to stdout and stderr.
    pub async fn logs(&self, id: &str, tail: usize) -> Result<String, WorkerError> {
        let options = LogsOptionsBuilder::default().stdout(true).stderr(true).tail(&tail.to_string()).build();
        let mut stream = self.docker.logs(id, Some(options));
        let mut out = String::new();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(output) => out.push_str(&output.to_string()),
                Err(e) if not_found(&e) => break,
                Err(e) => return Err(internal("logs", e)),
            }
        }
        Ok(out)
    }
}
