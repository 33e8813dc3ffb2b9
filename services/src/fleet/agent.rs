//! The node agent: carries out the scheduler's orders on this node's engine. It checks each
//! order's fence before acting, resolves the revision's image (pulling it by digest from the
//! cluster's registry when this engine lacks it), starts the copy and says where it is reached.
//! When this node is cut off from the cluster longer than its lease, it can stop every copy it
//! runs ([`Agent::stop_all`]): the scheduler has replaced them elsewhere by then.

use super::{CopyHost, CopyOrder, FoundCopy, ReapOrder, Reaped, StartedCopy, StopOrder, TaskOrder};
use crate::error::ServiceError;
use async_trait::async_trait;
use skiff_api::service::ServiceSpec;
use skiff_api::task::MAX_KEPT_LOG;
use skiff_api::taskdef::{start_order, Condition, ContainerDefinition, ContainerHealth};
use skiff_state::lease::{Fence, Leases};
use skiff_workers::service::{ContainerSpec, CopySpec, HealthCommand, Identity, ServiceRuntime, StartAfter};
use skiff_workers::WorkerError;
use std::sync::Arc;
use std::time::Duration;

pub struct Agent {
    runtime: ServiceRuntime,
    leases: Arc<dyn Leases>,
}

impl Agent {
    pub fn new(runtime: ServiceRuntime, leases: Arc<dyn Leases>) -> Self {
        Self { runtime, leases }
    }

    pub fn runtime(&self) -> &ServiceRuntime {
        &self.runtime
    }

    /// What the engine runs for `containers` (in the definition's order): the images resolved
    /// (pulled by digest when missing), the containers in start order.
    pub async fn copy_spec(
        &self,
        identity: Identity,
        port: Option<u16>,
        memory_mb: u32,
        cpu: f64,
        containers: &[ContainerDefinition],
    ) -> Result<CopySpec, ServiceError> {
        // Checked for cycles when it was deployed.
        let order = start_order(containers).unwrap_or_else(|| containers.iter().collect());
        let mut specs = Vec::new();
        for c in &order {
            let image = self.runtime.resolve_image(&c.image, Some(&c.image_id).filter(|id| !id.is_empty()).map(|s| s.as_str())).await?;
            let after = c.depends_on.iter().filter_map(|d| Some((order.iter().position(|o| o.name == d.container)?, condition(d.condition)))).collect();
            specs.push(ContainerSpec {
                name: c.name.clone(),
                image,
                entrypoint: c.entrypoint.clone(),
                command: c.command.clone(),
                env: c.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                essential: c.essential,
                memory_mb: c.memory_mb,
                health: c.health.as_ref().map(health),
                after,
            });
        }
        Ok(CopySpec { identity, port, memory_mb, nano_cpus: (cpu * 1e9) as i64, containers: specs })
    }

    /// Refuses an order from a scheduler whose term is over.
    async fn check(&self, fence: &Fence) -> Result<(), ServiceError> {
        match self.leases.verify(fence).await? {
            true => Ok(()),
            false => Err(ServiceError::Fenced(fence.clone())),
        }
    }

    /// Removes this node's copies of services that no longer exist (deleted while it was
    /// down). Only copies older than this call: a copy of a service created since `services`
    /// was read is not an orphan.
    pub async fn remove_orphans(&self, services: &std::collections::HashSet<String>) {
        let now_s = (skiff_api::now_ms() / 1000) as i64;
        let Ok(all) = self.runtime.list(None).await else { return };
        for orphan in all.into_iter().filter(|c| !services.contains(&c.service) && c.created < now_s) {
            let _ = self.runtime.stop(&orphan.id, 0).await;
        }
    }

    /// Removes this node's task containers except `running` (the holders of tasks recorded as
    /// running): what is left of tasks that ended while this node was gone.
    pub async fn remove_orphan_tasks(&self, running: &std::collections::HashSet<String>) {
        let Ok(all) = self.runtime.task_containers().await else { return };
        for id in all.into_iter().filter(|id| !running.contains(id)) {
            let _ = self.runtime.stop(&id, 0).await;
        }
    }

    /// Stops every service copy and task on this node (see the module doc).
    pub async fn stop_all(&self) {
        let Ok(all) = self.runtime.list(None).await else { return };
        for copy in all.into_iter().filter(|c| c.running) {
            tracing::warn!(service = %copy.service, container = %&copy.id[..12.min(copy.id.len())], "cut off from the cluster: stopping the copy");
            let _ = self.runtime.stop(&copy.id, 0).await;
        }
        // The scheduler has recorded them lost: what they do now, nobody reads.
        self.remove_orphan_tasks(&Default::default()).await;
    }
}

#[async_trait]
impl CopyHost for Agent {
    async fn start(&self, order: &CopyOrder) -> Result<StartedCopy, ServiceError> {
        self.check(&order.fence).await?;
        let spec = &order.spec;
        let identity = Identity::Service { name: order.service.clone(), revision: order.revision, incarnation: order.incarnation };
        let containers = match spec.containers.is_empty() {
            true => vec![short_form(spec)],
            false => spec.containers.clone(),
        };
        let copy = self.copy_spec(identity, Some(spec.port), spec.memory_mb, spec.cpu, &containers).await?;
        let instance = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
        let id = self.runtime.start(&copy, &instance).await?;
        match self.runtime.address(&id, spec.port).await {
            Ok(Some(address)) => Ok(StartedCopy { id, address }),
            // Exited already, or the engine gave it no address: nothing to check or route to.
            other => {
                let _ = self.runtime.stop(&id, 0).await;
                let why = other.err().map_or("it stopped before it had an address".to_string(), |e| e.to_string());
                Err(WorkerError::Internal(why).into())
            }
        }
    }

    async fn run_task(&self, order: &TaskOrder) -> Result<String, ServiceError> {
        self.check(&order.fence).await?;
        let def = &order.definition;
        let identity = Identity::Task { id: order.task_id.clone(), family: def.family.clone() };
        let copy = self.copy_spec(identity, None, def.memory_mb, def.cpu, &def.containers).await?;
        Ok(self.runtime.start(&copy, &order.task_id).await?)
    }

    async fn reap_task(&self, order: &ReapOrder) -> Result<Reaped, ServiceError> {
        self.check(&order.fence).await?;
        let id = &order.container_id;
        self.runtime.halt(id, order.grace_s).await?;
        let containers = self.runtime.exits(id).await?;
        let mut logs = self.runtime.logs(id, 10_000).await?;
        if logs.len() > MAX_KEPT_LOG {
            let mut cut = logs.len() - MAX_KEPT_LOG;
            while !logs.is_char_boundary(cut) {
                cut += 1;
            }
            logs.drain(..cut);
        }
        self.runtime.stop(id, 0).await?;
        Ok(Reaped { containers, logs })
    }

    async fn stop(&self, order: &StopOrder) -> Result<(), ServiceError> {
        self.check(&order.fence).await?;
        Ok(self.runtime.stop(&order.id, order.grace_s).await?)
    }

    async fn list(&self, service: &str) -> Result<Vec<FoundCopy>, ServiceError> {
        let found = self.runtime.list(Some(service)).await?;
        Ok(found
            .into_iter()
            .map(|c| FoundCopy { id: c.id, revision: c.revision, incarnation: c.incarnation, running: c.running, address: c.address })
            .collect())
    }

    async fn wait_stopped(&self, id: &str) -> Result<(), ServiceError> {
        self.runtime.wait_stopped(id).await;
        Ok(())
    }

    async fn logs(&self, id: &str, tail: usize) -> Result<String, ServiceError> {
        Ok(self.runtime.logs(id, tail).await?)
    }
}

/// The one container of a service deployed in the short form.
fn short_form(spec: &ServiceSpec) -> ContainerDefinition {
    ContainerDefinition {
        name: "main".into(),
        image: spec.image.clone(),
        image_id: spec.image_id.clone(),
        essential: true,
        entrypoint: spec.entrypoint.clone(),
        command: spec.command.clone(),
        env: spec.env.clone(),
        ports: vec![spec.port],
        health: None,
        memory_mb: None,
        depends_on: Vec::new(),
    }
}

fn condition(c: Condition) -> StartAfter {
    match c {
        Condition::Start => StartAfter::Started,
        Condition::Complete => StartAfter::Exited,
        Condition::Success => StartAfter::Succeeded,
        Condition::Healthy => StartAfter::Healthy,
    }
}

fn health(h: &ContainerHealth) -> HealthCommand {
    HealthCommand {
        test: h.command.clone(),
        interval: Duration::from_secs(u64::from(h.interval_s)),
        timeout: Duration::from_secs(u64::from(h.timeout_s)),
        retries: h.retries,
        start_period: Duration::from_secs(u64::from(h.start_period_s)),
    }
}
