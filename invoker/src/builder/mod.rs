//! Building the worker that runs a version: a Wasm template from the compiled-artifact cache
//! (compiled from the stored blob when the cache lost it), or a warm container pool.

mod zip;

pub(crate) use zip::zip_image_tag;

use crate::error::{blocking, InvokerError};
use crate::metrics::Metrics;
use crate::options::Containers;
use crate::registry::Deployed;
use skiff_api::{CodeInfo, FunctionConfig};
use skiff_state::blobs::BlobStore;
use skiff_workers::container::{ContainerBackend, ContainerPool, ContainerSpec, ImageSpec, WarmCount};
use skiff_workers::wasm::{CompiledCode, WasmBackend};
use skiff_workers::{ExecutionSpec, ReusePolicy, Worker, WorkerError};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) struct WorkerBuilder {
    pub(crate) wasm: WasmBackend,
    pub(crate) containers: Containers,
    keep_warm: Duration,
    blobs: Arc<dyn BlobStore>,
    metrics: Arc<Metrics>,
}

impl WorkerBuilder {
    pub(crate) fn new(wasm: WasmBackend, containers: Containers, keep_warm: Duration, blobs: Arc<dyn BlobStore>, metrics: Arc<Metrics>) -> Self {
        Self { wasm, containers, keep_warm, blobs, metrics }
    }

    /// The version's worker: built at deploy, or now (the first call after a restart — that
    /// call is the cold start).
    pub(crate) async fn worker_for(&self, deployed: &Deployed) -> Result<Arc<dyn Worker>, InvokerError> {
        let worker = deployed
            .worker
            .get_or_try_init(|| async {
                let config = deployed.config.clone();
                match &config.code {
                    CodeInfo::Image { image, id } => {
                        let image = match &config.zip {
                            Some(zip) => self.zip_image(&config, zip).await?.1,
                            None => self.containers()?.resolve_image(image, Some(id)).await?,
                        };
                        Ok(Arc::new(self.container_pool(&config, image)?) as Arc<dyn Worker>)
                    }
                    CodeInfo::Wasm { .. } => {
                        let started = Instant::now();
                        let compiled = self.compiled(&config.code).await?;
                        let wasm = self.wasm.clone();
                        blocking("preparing a wasm template", move || {
                            let worker = wasm.prepare(execution_spec(&config), &compiled)?.with_load_time(started.elapsed());
                            Ok(Arc::new(worker) as Arc<dyn Worker>)
                        })
                        .await
                    }
                }
            })
            .await?;
        Ok(worker.clone())
    }

    pub(crate) fn containers(&self) -> Result<&ContainerBackend, InvokerError> {
        self.containers.backend().map_err(|why| InvokerError::Worker(WorkerError::Unavailable(why)))
    }

    pub(crate) fn container_pool(&self, config: &FunctionConfig, image: ImageSpec) -> Result<ContainerPool, InvokerError> {
        let spec = ContainerSpec { exec: execution_spec(config), image, egress: config.egress };
        let warm = Box::new(WarmGauge(self.metrics.warm_containers.with_label_values(&[&config.name])));
        Ok(ContainerPool::new(self.containers()?.clone(), spec, self.keep_warm, config.provisioned, warm))
    }

    /// What is wrong with the stored code this config runs, as kept on this node: a damaged blob
    /// is reported whether or not a cold start has needed it yet.
    pub(crate) async fn code_fault(&self, config: &FunctionConfig) -> Option<String> {
        let sha = config.blob()?;
        self.blobs.check(sha).await.err().map(|e| e.to_string())
    }

    /// The compiled code for stored code: from the artifact cache, or compiled from the stored
    /// blob if the cache was lost or made by another engine.
    pub(crate) async fn compiled(&self, code: &CodeInfo) -> Result<CompiledCode, InvokerError> {
        let Some(sha) = code.sha256().map(str::to_string) else {
            return Err(InvokerError::Worker(WorkerError::Internal("not Wasm code".into())));
        };
        let (wasm, key) = (self.wasm.clone(), sha.clone());
        if let Some(compiled) = blocking("loading a compiled artifact", move || Ok(wasm.load_cached(&key))).await? {
            return Ok(compiled);
        }
        tracing::info!(sha256 = %sha, "compiled artifact not cached; compiling");
        let blob = self.blobs.get(&sha).await?;
        let wasm = self.wasm.clone();
        blocking("compiling stored code", move || Ok(wasm.compile(&sha, &blob)?)).await
    }
}

/// `skiff_warm_containers{function}` as the pool's count of idle containers.
struct WarmGauge(prometheus::IntGauge);

impl WarmCount for WarmGauge {
    fn add(&self, delta: i64) {
        self.0.add(delta);
    }
}

pub(crate) fn execution_spec(config: &FunctionConfig) -> ExecutionSpec {
    ExecutionSpec {
        function: config.name.clone(),
        version: config.executed_version().to_string(),
        memory_mb: config.memory_mb,
        timeout: Duration::from_secs(config.timeout_s.into()),
        env: config.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        reuse: config.reuse.map(|r| ReusePolicy { max_calls: r.max_calls, idle: Duration::from_secs(r.idle_s.into()) }),
    }
}
