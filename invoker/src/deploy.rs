//! The control plane: deploying, updating and deleting functions, and building the worker that
//! runs a version (a Wasm template, or a warm container pool).

use crate::config::{CodeInfo, DeployRequest, FunctionConfig, WasmFormat};
use crate::config::{DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_S};
use crate::invoker::{blocking, now_ms};
use crate::pool::ContainerPool;
use crate::registry::Deployed;
use crate::{InvokerError, Invoker};
use sha2::{Digest, Sha256};
use skiff_workers::container::{ContainerBackend, ContainerSpec, ImageSpec};
use skiff_workers::wasm::{CodeKind, CompiledCode};
use skiff_workers::{ExecutionSpec, Worker, WorkerError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a deploy resolved its code to before anything is stored.
enum Resolved {
    Wasm(CompiledCode),
    Image(ImageSpec),
}

impl Invoker {
    /// Creates or updates a function. Everything is validated — settings, then the code compiled
    /// and its ABI checked, or the image resolved in the local engine — before anything is
    /// stored; the new version then replaces the old one atomically, calls already running
    /// finish on the old one, and the old version's idle containers are retired.
    pub async fn deploy(&self, request: DeployRequest) -> Result<FunctionConfig, InvokerError> {
        request.validate()?;
        let _guard = self.inner.control.lock().await;
        let existing = self.inner.functions.get(&request.name).map(|e| e.clone());
        let old_code = existing.as_ref().map(|d| d.config.code.clone());
        // Images are resolved here, on the runtime (an engine call); Wasm compiles on the
        // blocking pool below.
        let image = match (&request.image, &old_code) {
            (Some(reference), _) => Some(self.containers()?.inspect_image(reference).await.map_err(invalid)?),
            (None, Some(CodeInfo::Image { id, .. })) if request.wasm.is_none() => {
                Some(self.containers()?.inspect_image(id).await.map_err(invalid)?)
            }
            _ => None,
        };
        let this = self.clone();
        let deployed = blocking(move || this.deploy_now(request, existing, image)).await?;
        Ok(deployed)
    }

    fn deploy_now(
        &self,
        request: DeployRequest,
        existing: Option<Arc<Deployed>>,
        image: Option<ImageSpec>,
    ) -> Result<FunctionConfig, InvokerError> {
        let inner = &self.inner;
        let old = existing.as_ref().map(|d| &d.config);
        let (code, resolved) = match (&request.wasm, image) {
            (Some(wasm), _) => {
                let sha256 = hex::encode(Sha256::digest(wasm));
                let compiled = inner.wasm.compile(&sha256, wasm).map_err(invalid)?;
                let format = match compiled.kind() {
                    CodeKind::Module => WasmFormat::Module,
                    CodeKind::Component => WasmFormat::Component,
                };
                (CodeInfo::Wasm { sha256, size: wasm.len() as u64, format }, Resolved::Wasm(compiled))
            }
            (None, Some(image)) => {
                let reference = match (&request.image, old.map(|o| &o.code)) {
                    (Some(r), _) => r.clone(),
                    (None, Some(CodeInfo::Image { image, .. })) => image.clone(),
                    _ => image.id.clone(),
                };
                (CodeInfo::Image { image: reference, id: image.id.clone() }, Resolved::Image(image))
            }
            (None, None) => match old {
                Some(old) => (old.code.clone(), Resolved::Wasm(self.load_compiled(&old.code)?)),
                None => {
                    return Err(InvokerError::Invalid(
                        "code is required to create a function: wasm or image".into(),
                    ))
                }
            },
        };
        let now = now_ms();
        // Container-only settings carry over only while the function stays a container function.
        let kind = std::mem::discriminant(&code);
        let same_kind = |o: &&FunctionConfig| std::mem::discriminant(&o.code) == kind;
        let config = FunctionConfig {
            name: request.name.clone(),
            code,
            memory_mb: request.memory_mb.or(old.map(|o| o.memory_mb)).unwrap_or(DEFAULT_MEMORY_MB),
            timeout_s: request.timeout_s.or(old.map(|o| o.timeout_s)).unwrap_or(DEFAULT_TIMEOUT_S),
            concurrency: request.concurrency.unwrap_or(old.and_then(|o| o.concurrency)),
            env: request.env.clone().or(old.map(|o| o.env.clone())).unwrap_or_default(),
            egress: request.egress.or(old.filter(same_kind).map(|o| o.egress)).unwrap_or(false),
            provisioned: request.provisioned.or(old.filter(same_kind).map(|o| o.provisioned)).unwrap_or(0),
            events: request.events.apply(old.map(|o| &o.events)),
            version: old.map_or(1, |o| o.version + 1),
            created_at_ms: old.map_or(now, |o| o.created_at_ms),
            updated_at_ms: now,
        };
        check_container_settings(&config)?;
        if config.events.on_success == Some(crate::Destination::Function(config.name.clone())) {
            return Err(InvokerError::Invalid("a function cannot be its own on-success destination".into()));
        }
        let worker: Arc<dyn Worker> = match resolved {
            Resolved::Wasm(compiled) => Arc::new(inner.wasm.prepare(execution_spec(&config), &compiled).map_err(invalid)?),
            Resolved::Image(image) => Arc::new(self.container_pool(&config, image)?),
        };

        if let (Some(wasm), Some(sha)) = (&request.wasm, config.code.sha256()) {
            inner.store.write_code(sha, wasm)?;
        }
        inner.store.put(&config)?;
        let entry = Deployed::succeeding(existing.as_deref(), config.clone(), Some(worker));
        inner.functions.insert(config.name.clone(), Arc::new(entry));
        if let Some(old) = existing {
            old.retire();
            if let Some(sha) = old.config.code.sha256().filter(|s| Some(*s) != config.code.sha256()) {
                inner.store.collect_code(sha)?;
            }
        }
        inner.metrics.deployed.set(inner.functions.len() as i64);
        self.start_dispatcher(&config);
        tracing::info!(function = %config.name, version = config.version, "deployed");
        Ok(config)
    }

    /// Deletes a function; calls in flight finish, new calls get `NotFound`, its containers are
    /// retired.
    pub async fn delete(&self, name: &str) -> Result<(), InvokerError> {
        let _guard = self.inner.control.lock().await;
        let deployed = self.lookup(name)?;
        let this = self.clone();
        let name = name.to_string();
        blocking(move || {
            let inner = &this.inner;
            inner.store.delete(&name)?;
            inner.functions.remove(&name);
            inner.dispatchers.stop(&name);
            // A trigger cannot outlive its function.
            for trigger in inner.store.list_triggers()?.into_iter().filter(|t| t.function == name) {
                inner.store.delete_trigger(&trigger.id)?;
                inner.triggers.stop(&trigger.id);
            }
            deployed.retire();
            if let Some(sha) = deployed.config.code.sha256() {
                inner.store.collect_code(sha)?;
            }
            inner.logs.forget(&name);
            inner.metrics.forget(&name);
            inner.metrics.deployed.set(inner.functions.len() as i64);
            tracing::info!(function = %name, "deleted");
            Ok(())
        })
        .await
    }

    /// Builds the workers of functions that keep provisioned containers, so those are started
    /// right after a restart rather than at their first call.
    pub async fn warm_up(&self) {
        self.inner.services.start(self.inner.containers.as_ref().map_err(|e| e.clone())).await;
        let provisioned: Vec<_> =
            self.inner.functions.iter().filter(|e| e.config.provisioned > 0).map(|e| e.clone()).collect();
        for deployed in provisioned {
            if let Err(e) = self.worker_for(&deployed).await {
                tracing::warn!(function = %deployed.config.name, "cannot provision containers: {e}");
            }
        }
    }

    /// Stops every worker: first the event dispatchers (events already running finish and are
    /// acked; nothing else is), then the queue connection, then all pools and whatever
    /// containers remain.
    pub async fn shutdown(&self) {
        self.inner.services.shutdown().await;
        self.inner.triggers.stop_all().await;
        self.inner.dispatchers.stop_all().await;
        self.inner.broker.close().await;
        for entry in self.inner.functions.iter() {
            entry.retire();
        }
        if let Ok(backend) = &self.inner.containers {
            match backend.remove_all().await {
                Ok(n) if n > 0 => tracing::info!(removed = n, "function containers stopped"),
                Ok(_) => {}
                Err(e) => tracing::warn!("stopping function containers: {e}"),
            }
        }
    }

    pub(crate) async fn worker_for(&self, deployed: &Arc<Deployed>) -> Result<Arc<dyn Worker>, InvokerError> {
        let worker = deployed
            .worker
            .get_or_try_init(|| async {
                let config = deployed.config.clone();
                match &config.code {
                    CodeInfo::Image { id, .. } => {
                        let image = self.containers()?.inspect_image(id).await?;
                        Ok(Arc::new(self.container_pool(&config, image)?) as Arc<dyn Worker>)
                    }
                    CodeInfo::Wasm { .. } => {
                        let this = self.clone();
                        blocking(move || {
                            let started = Instant::now();
                            let compiled = this.load_compiled(&config.code)?;
                            let worker = this
                                .inner
                                .wasm
                                .prepare(execution_spec(&config), &compiled)?
                                .with_load_time(started.elapsed());
                            Ok(Arc::new(worker) as Arc<dyn Worker>)
                        })
                        .await
                    }
                }
            })
            .await?;
        Ok(worker.clone())
    }

    fn containers(&self) -> Result<&ContainerBackend, InvokerError> {
        self.inner.containers.as_ref().map_err(|why| InvokerError::Worker(WorkerError::Unavailable(why.clone())))
    }

    fn container_pool(&self, config: &FunctionConfig, image: ImageSpec) -> Result<ContainerPool, InvokerError> {
        let spec = ContainerSpec { exec: execution_spec(config), image, egress: config.egress };
        let warm = self.inner.metrics.warm_containers.with_label_values(&[&config.name]);
        Ok(ContainerPool::new(self.containers()?.clone(), spec, self.inner.keep_warm, config.provisioned, warm))
    }

    /// The compiled code for stored code: from the artifact cache, or compiled from the stored
    /// blob if the cache was lost or made by another engine.
    fn load_compiled(&self, code: &CodeInfo) -> Result<CompiledCode, InvokerError> {
        let Some(sha) = code.sha256() else {
            return Err(InvokerError::Worker(WorkerError::Internal("not Wasm code".into())));
        };
        if let Some(compiled) = self.inner.wasm.load_cached(sha) {
            return Ok(compiled);
        }
        tracing::info!(sha256 = sha, "compiled artifact not cached; compiling");
        let blob = self.inner.store.read_code(sha)?;
        Ok(self.inner.wasm.compile(sha, &blob)?)
    }
}

/// Settings that only mean something for containers are refused on Wasm functions, and the
/// provisioned count must fit the function's concurrency.
fn check_container_settings(config: &FunctionConfig) -> Result<(), InvokerError> {
    let is_image = matches!(config.code, CodeInfo::Image { .. });
    if !is_image && (config.provisioned > 0 || config.egress) {
        return Err(InvokerError::Invalid(
            "provisioned concurrency and egress apply to container functions only (Wasm instances start in microseconds and have no network)".into(),
        ));
    }
    if let Some(c) = config.concurrency.filter(|c| config.provisioned > *c) {
        return Err(InvokerError::Invalid(format!(
            "provisioned concurrency {} exceeds the function's concurrency {c}",
            config.provisioned
        )));
    }
    Ok(())
}

pub(crate) fn execution_spec(config: &FunctionConfig) -> ExecutionSpec {
    ExecutionSpec {
        function: config.name.clone(),
        version: config.version,
        memory_mb: config.memory_mb,
        timeout: Duration::from_secs(config.timeout_s.into()),
        env: config.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
    }
}

/// Code the user sent that cannot run is their error (400), not ours.
pub(crate) fn invalid(e: WorkerError) -> InvokerError {
    match e {
        WorkerError::InvalidCode(m) => InvokerError::Invalid(format!("invalid wasm: {m}")),
        WorkerError::Abi(m) => InvokerError::Invalid(format!("unsupported wasm: {m}")),
        WorkerError::InvalidImage(m) => InvokerError::Invalid(m),
        other => InvokerError::Worker(other),
    }
}
