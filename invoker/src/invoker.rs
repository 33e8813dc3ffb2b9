use crate::config::{CodeInfo, DeployRequest, FunctionConfig, WasmFormat};
use crate::config::{DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_S};
use crate::limits::try_admit;
use crate::logs::{LogBook, LogEntry};
use crate::registry::Deployed;
use crate::store::Store;
use crate::{InvokerError, Metrics, ThrottleScope};
use bytes::Bytes;
use dashmap::DashMap;
use sha2::{Digest, Sha256};
use skiff_workers::wasm::{CodeKind, CompiledCode, EngineOptions, WasmBackend};
use skiff_workers::{Execution, ExecutionSpec, Invocation, Outcome, Worker, WorkerError};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{broadcast, Semaphore};

#[derive(Debug, Clone)]
pub struct InvokerOptions {
    pub data_dir: PathBuf,
    /// Executions allowed at once across all functions.
    pub max_concurrency: u32,
}

/// What a finished invocation reports back to the gateway.
#[derive(Debug, Clone)]
pub struct InvokeResult {
    pub request_id: String,
    pub version: u64,
    pub execution: Execution,
    /// The Lambda-style log of this invocation (START … REPORT).
    pub log: String,
}

/// The invoker facade. Cheap to clone; all clones share one state.
#[derive(Clone)]
pub struct Invoker {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    functions: DashMap<String, Arc<Deployed>>,
    wasm: WasmBackend,
    global: Arc<Semaphore>,
    logs: LogBook,
    metrics: Metrics,
    /// Serialises control-plane changes, so read-modify-write of a config is atomic.
    control: tokio::sync::Mutex<()>,
}

impl Invoker {
    /// Opens the data dir and registers every stored function. Workers are built lazily on first
    /// call, from the compiled-artifact cache, so start-up cost does not grow with the fleet.
    pub fn open(options: InvokerOptions) -> Result<Self, InvokerError> {
        std::fs::create_dir_all(&options.data_dir)?;
        let store = Store::open(&options.data_dir)?;
        let wasm = WasmBackend::new(EngineOptions {
            enforce_limits: true,
            max_instances: options.max_concurrency,
            cache_dir: options.data_dir.join("compiled"),
        })?;
        let functions = DashMap::new();
        for config in store.list()? {
            functions.insert(config.name.clone(), Arc::new(Deployed::new(config, None)));
        }
        let metrics = Metrics::new();
        metrics.deployed.set(functions.len() as i64);
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                functions,
                wasm,
                global: Arc::new(Semaphore::new(options.max_concurrency as usize)),
                logs: LogBook::default(),
                metrics,
                control: tokio::sync::Mutex::new(()),
            }),
        })
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    pub fn list(&self) -> Vec<FunctionConfig> {
        let mut all: Vec<_> = self.inner.functions.iter().map(|e| e.config.clone()).collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    pub fn get(&self, name: &str) -> Result<FunctionConfig, InvokerError> {
        Ok(self.lookup(name)?.config.clone())
    }

    /// Creates or updates a function. Everything is validated — settings, then the code compiled
    /// and its ABI checked — before anything is stored; the new version then replaces the old
    /// one atomically, and calls already running finish on the old one.
    pub async fn deploy(&self, request: DeployRequest) -> Result<FunctionConfig, InvokerError> {
        request.validate()?;
        let _guard = self.inner.control.lock().await;
        let existing = self.inner.functions.get(&request.name).map(|e| e.clone());
        let this = self.clone();
        blocking(move || this.deploy_now(request, existing)).await
    }

    fn deploy_now(
        &self,
        request: DeployRequest,
        existing: Option<Arc<Deployed>>,
    ) -> Result<FunctionConfig, InvokerError> {
        let inner = &self.inner;
        let old = existing.as_ref().map(|d| &d.config);
        let (code, compiled) = match &request.wasm {
            Some(wasm) => {
                let sha256 = hex::encode(Sha256::digest(wasm));
                let compiled = inner.wasm.compile(&sha256, wasm).map_err(invalid)?;
                let format = match compiled.kind() {
                    CodeKind::Module => WasmFormat::Module,
                    CodeKind::Component => WasmFormat::Component,
                };
                (CodeInfo::Wasm { sha256, size: wasm.len() as u64, format }, compiled)
            }
            None => match old {
                Some(old) => (old.code.clone(), self.load_compiled(&old.code)?),
                None => {
                    return Err(InvokerError::Invalid(
                        "code is required to create a function (wasm)".into(),
                    ))
                }
            },
        };
        let now = now_ms();
        let config = FunctionConfig {
            name: request.name.clone(),
            code,
            memory_mb: request.memory_mb.or(old.map(|o| o.memory_mb)).unwrap_or(DEFAULT_MEMORY_MB),
            timeout_s: request.timeout_s.or(old.map(|o| o.timeout_s)).unwrap_or(DEFAULT_TIMEOUT_S),
            concurrency: request.concurrency.unwrap_or(old.and_then(|o| o.concurrency)),
            env: request.env.clone().or(old.map(|o| o.env.clone())).unwrap_or_default(),
            version: old.map_or(1, |o| o.version + 1),
            created_at_ms: old.map_or(now, |o| o.created_at_ms),
            updated_at_ms: now,
        };
        let worker = inner.wasm.prepare(execution_spec(&config), &compiled).map_err(invalid)?;

        if let Some(wasm) = &request.wasm {
            inner.store.write_code(config.code.sha256(), wasm)?;
        }
        inner.store.put(&config)?;
        inner.functions.insert(
            config.name.clone(),
            Arc::new(Deployed::new(config.clone(), Some(Arc::new(worker)))),
        );
        if let Some(old) = old.filter(|o| o.code.sha256() != config.code.sha256()) {
            inner.store.collect_code(old.code.sha256())?;
        }
        inner.metrics.deployed.set(inner.functions.len() as i64);
        tracing::info!(function = %config.name, version = config.version, "deployed");
        Ok(config)
    }

    /// Deletes a function; calls in flight finish, new calls get `NotFound`.
    pub async fn delete(&self, name: &str) -> Result<(), InvokerError> {
        let _guard = self.inner.control.lock().await;
        let deployed = self.lookup(name)?;
        let this = self.clone();
        let name = name.to_string();
        blocking(move || {
            let inner = &this.inner;
            inner.store.delete(&name)?;
            inner.functions.remove(&name);
            inner.store.collect_code(deployed.config.code.sha256())?;
            inner.logs.forget(&name);
            inner.metrics.forget(&name);
            inner.metrics.deployed.set(inner.functions.len() as i64);
            tracing::info!(function = %name, "deleted");
            Ok(())
        })
        .await
    }

    /// Runs one invocation to completion. Admission is immediate: if a concurrency limit is
    /// reached the call is throttled, never queued.
    pub async fn invoke(&self, name: &str, payload: Bytes) -> Result<InvokeResult, InvokerError> {
        let deployed = self.lookup(name)?;
        let permits = try_admit(deployed.reserved.as_ref(), &self.inner.global).inspect_err(|e| {
            if let InvokerError::Throttled(scope) = e {
                let scope = match scope {
                    ThrottleScope::Function => "function",
                    ThrottleScope::Global => "global",
                };
                self.inner.metrics.throttles.with_label_values(&[name, scope]).inc();
            }
        })?;
        let worker = self.worker_for(&deployed).await?;
        let request_id = uuid::Uuid::new_v4().to_string();
        let invocation = Invocation { request_id: request_id.clone(), payload };
        let this = self.clone();
        // The execution runs in its own task holding the permits, so a caller that goes away
        // neither cancels a running guest halfway nor frees its slot before the guest is done.
        tokio::spawn(async move {
            let _permits = permits;
            let config = &deployed.config;
            let metrics = &this.inner.metrics;
            let gauge = metrics.concurrent.with_label_values(&[&config.name]);
            gauge.inc();
            metrics.concurrent_total.inc();
            let result = worker.invoke(invocation).await;
            gauge.dec();
            metrics.concurrent_total.dec();
            let execution = result?;
            Ok(this.record(config, request_id, execution))
        })
        .await
        .map_err(|e| InvokerError::Worker(WorkerError::Internal(format!("invocation task: {e}"))))?
    }

    /// Checks that a call could be made (function exists), without running it: Lambda's DryRun.
    pub fn dry_run(&self, name: &str) -> Result<FunctionConfig, InvokerError> {
        self.get(name)
    }

    pub fn recent_logs(&self, name: &str, limit: usize) -> Result<Vec<Arc<LogEntry>>, InvokerError> {
        self.lookup(name)?;
        Ok(self.inner.logs.recent(name, limit))
    }

    pub fn follow_logs(&self, name: &str) -> Result<broadcast::Receiver<Arc<LogEntry>>, InvokerError> {
        self.lookup(name)?;
        Ok(self.inner.logs.follow(name))
    }

    fn lookup(&self, name: &str) -> Result<Arc<Deployed>, InvokerError> {
        self.inner
            .functions
            .get(name)
            .map(|e| e.clone())
            .ok_or_else(|| InvokerError::NotFound(name.to_string()))
    }

    async fn worker_for(&self, deployed: &Arc<Deployed>) -> Result<Arc<dyn Worker>, InvokerError> {
        let worker = deployed
            .worker
            .get_or_try_init(|| {
                let this = self.clone();
                let config = deployed.config.clone();
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
            })
            .await?;
        Ok(worker.clone())
    }

    /// The compiled code for stored code: from the artifact cache, or compiled from the stored
    /// blob if the cache was lost or made by another engine.
    fn load_compiled(&self, code: &CodeInfo) -> Result<CompiledCode, InvokerError> {
        let sha = code.sha256();
        if let Some(compiled) = self.inner.wasm.load_cached(sha) {
            return Ok(compiled);
        }
        tracing::info!(sha256 = sha, "compiled artifact not cached; compiling");
        let blob = self.inner.store.read_code(sha)?;
        Ok(self.inner.wasm.compile(sha, &blob)?)
    }

    fn record(&self, config: &FunctionConfig, request_id: String, execution: Execution) -> InvokeResult {
        let metrics = &self.inner.metrics;
        let name = config.name.as_str();
        let outcome = match &execution.outcome {
            Outcome::Success(_) => "success",
            Outcome::Error(e) => e.error_type.as_str(),
        };
        metrics.invocations.with_label_values(&[name, outcome]).inc();
        metrics.duration.with_label_values(&[name]).observe(execution.duration.as_secs_f64());
        if let Some(init) = execution.init_duration {
            metrics.cold_starts.with_label_values(&[name]).inc();
            metrics.init_duration.with_label_values(&[name]).observe(init.as_secs_f64());
        }
        let log = lambda_log(&request_id, config, &execution);
        self.inner.logs.record(LogEntry {
            request_id: request_id.clone(),
            function: config.name.clone(),
            version: config.version,
            timestamp_ms: now_ms(),
            outcome: outcome.to_string(),
            text: log.clone(),
        });
        InvokeResult { request_id, version: config.version, execution, log }
    }
}

/// The invocation's log in Lambda's shape, so tools that read Lambda's tail logs read ours.
fn lambda_log(request_id: &str, config: &FunctionConfig, execution: &Execution) -> String {
    let mut log = format!("START RequestId: {request_id} Version: {}\n", config.version);
    log.push_str(&String::from_utf8_lossy(&execution.logs));
    if !log.ends_with('\n') {
        log.push('\n');
    }
    if let Outcome::Error(e) = &execution.outcome {
        log.push_str(&format!("[ERROR] {}: {}\n", e.error_type.as_str(), e.message));
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    log.push_str(&format!(
        "END RequestId: {request_id}\nREPORT RequestId: {request_id}\tDuration: {:.2} ms\tBilled Duration: {} ms\tMemory Size: {} MB\tMax Memory Used: {} MB",
        ms(execution.duration),
        ms(execution.duration).ceil() as u64,
        config.memory_mb,
        execution.max_memory_bytes.div_ceil(1 << 20),
    ));
    if let Some(init) = execution.init_duration {
        log.push_str(&format!("\tInit Duration: {:.2} ms", ms(init)));
    }
    log.push('\n');
    log
}

fn execution_spec(config: &FunctionConfig) -> ExecutionSpec {
    ExecutionSpec {
        function: config.name.clone(),
        version: config.version,
        memory_mb: config.memory_mb,
        timeout: Duration::from_secs(config.timeout_s.into()),
        env: config.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
    }
}

/// Code the user sent that cannot run is their error (400), not ours.
fn invalid(e: WorkerError) -> InvokerError {
    match e {
        WorkerError::InvalidCode(m) => InvokerError::Invalid(format!("invalid wasm: {m}")),
        WorkerError::Abi(m) => InvokerError::Invalid(format!("unsupported wasm: {m}")),
        other => InvokerError::Worker(other),
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, InvokerError> + Send + 'static,
) -> Result<T, InvokerError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| InvokerError::Worker(WorkerError::Internal(format!("blocking task: {e}"))))?
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}
