//! The node agent: carries out the scheduler's orders on this node's engine. It checks each
//! order's fence before acting, resolves the revision's image (pulling it by digest from the
//! cluster's registry when this engine lacks it), starts the copy and says where it is reached.
//! When this node is cut off from the cluster longer than its lease, it can stop every copy it
//! runs ([`Agent::stop_all`]): the scheduler has replaced them elsewhere by then.

use super::{CopyHost, CopyOrder, FoundCopy, StartedCopy, StopOrder};
use crate::ServiceError;
use async_trait::async_trait;
use skiff_state::lease::{Fence, Leases};
use skiff_workers::service::{ServiceContainerSpec, ServiceRuntime};
use skiff_workers::WorkerError;
use std::sync::Arc;

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

    /// Stops every service copy on this node (see the module doc).
    pub async fn stop_all(&self) {
        let Ok(all) = self.runtime.list(None).await else { return };
        for copy in all.into_iter().filter(|c| c.running) {
            tracing::warn!(service = %copy.service, container = %&copy.id[..12.min(copy.id.len())], "cut off from the cluster: stopping the copy");
            let _ = self.runtime.stop(&copy.id, 0).await;
        }
    }
}

#[async_trait]
impl CopyHost for Agent {
    async fn start(&self, order: &CopyOrder) -> Result<StartedCopy, ServiceError> {
        self.check(&order.fence).await?;
        let spec = &order.spec;
        let image = self.runtime.resolve_image(&spec.image, Some(&spec.image_id)).await?;
        let container = ServiceContainerSpec {
            service: order.service.clone(),
            revision: order.revision,
            image,
            entrypoint: spec.entrypoint.clone(),
            command: spec.command.clone(),
            env: spec.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            port: spec.port,
            memory_mb: spec.memory_mb,
            nano_cpus: (spec.cpu * 1e9) as i64,
            incarnation: order.incarnation,
        };
        let instance = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
        let id = self.runtime.start(&container, &instance).await?;
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
