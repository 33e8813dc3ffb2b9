//! Creating and updating a service: the request checked, its image resolved, and the new
//! definition worked out from the current one.

use crate::error::ServiceError;
use crate::services::Services;
use skiff_api::service::{validate_service_name, PreviousRevision, Rollout, RolloutState, ServiceSpec};
use skiff_api::taskdef::TaskDefinition;
use skiff_api::{now_ms, Invalid, ServiceConfig, ServiceRequest, ServiceView};

impl Services {
    /// Creates or updates a service. A changed spec (image, command, env, port, resources,
    /// health check) makes a new revision, rolled out by the reconciler; other settings apply in
    /// place.
    pub async fn deploy(&self, name: &str, request: ServiceRequest) -> Result<ServiceView, ServiceError> {
        validate_service_name(name)?;
        request.validate()?;
        let spec = match &request.task_definition {
            None => self.short_form(&request).await?,
            Some(json) => self.spec_from_task_definition(json, &request).await?,
        };
        let _guard = self.registry().control.lock().await;
        let shared = self.registry().shared(name).ok();
        let current = shared.as_ref().map(|s| s.config.borrow().clone());
        let config = merged(name, current, spec, &request, now_ms());
        self.store(config, shared.as_deref(), None).await?;
        self.get(name)
    }
}

impl Services {
    /// The spec of a one-container service described by the request's own fields.
    async fn short_form(&self, request: &ServiceRequest) -> Result<ServiceSpec, ServiceError> {
        let image = self.agent()?.runtime().resolve_image(&request.image, None).await?;
        Ok(ServiceSpec {
            image: request.image.clone(),
            image_id: image.id,
            entrypoint: request.entrypoint.clone(),
            command: request.command.clone(),
            env: request.env.clone(),
            port: request.port,
            memory_mb: request.memory_mb,
            cpu: request.cpu,
            health: request.health.clone(),
            containers: Vec::new(),
        })
    }

    /// The spec of a service deployed from an ECS task definition: its entry container (the
    /// first essential one with a port mapping) takes traffic, every image is resolved.
    async fn spec_from_task_definition(&self, json: &serde_json::Value, request: &ServiceRequest) -> Result<ServiceSpec, ServiceError> {
        let mut def = TaskDefinition::parse(json)?;
        let runtime = self.agent()?;
        for c in &mut def.containers {
            c.image_id = runtime.runtime().resolve_image(&c.image, None).await?.id;
        }
        let Some((entry, port)) = def.entry() else {
            return Err(Invalid("a service's task definition needs an essential container with a portMappings entry: it takes the traffic".into()).into());
        };
        Ok(ServiceSpec {
            image: entry.image.clone(),
            image_id: entry.image_id.clone(),
            entrypoint: entry.entrypoint.clone(),
            command: entry.command.clone(),
            env: entry.env.clone(),
            port,
            memory_mb: def.memory_mb,
            cpu: def.cpu,
            health: request.health.clone(),
            containers: def.containers.clone(),
        })
    }
}

/// The definition after a deploy of `request` over `current` (none for a create). Pure.
fn merged(name: &str, current: Option<ServiceConfig>, spec: ServiceSpec, request: &ServiceRequest, now: u64) -> ServiceConfig {
    let mut config = match current {
        None => ServiceConfig {
            name: name.to_string(),
            spec,
            revision: 1,
            last_revision: 1,
            desired_count: request.count.unwrap_or(1),
            deployment: request.deployment,
            autoscaling: request.autoscaling,
            placement: request.placement.clone(),
            request_timeout_ms: request.request_timeout_ms,
            previous: None,
            rollout: Rollout { revision: 1, state: RolloutState::InProgress, message: None, updated_ms: now },
            created_ms: now,
            updated_ms: now,
        },
        Some(mut c) => {
            if c.spec != spec {
                let revision = c.last_revision + 1;
                let replaced = std::mem::replace(&mut c.spec, spec);
                // What a failed rollout returns to must have worked: a revision replaced
                // before its own rollout completed is skipped, the earlier one kept.
                if matches!(c.rollout.state, RolloutState::Completed | RolloutState::RolledBack) {
                    c.previous = Some(PreviousRevision { revision: c.revision, spec: replaced });
                }
                c.revision = revision;
                c.last_revision = revision;
                c.rollout = Rollout { revision, state: RolloutState::InProgress, message: None, updated_ms: now };
            }
            if let Some(count) = request.count {
                c.desired_count = count;
            }
            c.deployment = request.deployment;
            c.autoscaling = request.autoscaling;
            c.placement = request.placement.clone();
            c.request_timeout_ms = request.request_timeout_ms;
            c.updated_ms = now;
            c
        }
    };
    if let Some(a) = &config.autoscaling {
        config.desired_count = config.desired_count.clamp(a.min, a.max);
    }
    config
}
