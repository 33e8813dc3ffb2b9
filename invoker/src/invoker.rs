use crate::config::FunctionConfig;
use crate::limits::try_admit;
use crate::logs::{LogBook, LogEntry};
use crate::registry::Deployed;
use crate::store::Store;
use crate::{InvokerError, Metrics, ThrottleScope};
use bytes::Bytes;
use dashmap::DashMap;
use skiff_workers::container::ContainerBackend;
use skiff_workers::wasm::{EngineOptions, WasmBackend};
use skiff_workers::{Execution, Invocation, Outcome, WorkerError};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{broadcast, Semaphore};

#[derive(Clone)]
pub struct InvokerOptions {
    pub data_dir: PathBuf,
    /// Executions allowed at once across all functions.
    pub max_concurrency: u32,
    /// The Docker backend, or why there is none (container functions then cannot be deployed
    /// or run, with that reason in the error).
    pub containers: Result<ContainerBackend, String>,
    /// How long an idle container is kept warm.
    pub keep_warm: Duration,
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
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) store: Store,
    pub(crate) functions: DashMap<String, Arc<Deployed>>,
    pub(crate) wasm: WasmBackend,
    pub(crate) containers: Result<ContainerBackend, String>,
    pub(crate) keep_warm: Duration,
    global: Arc<Semaphore>,
    pub(crate) logs: LogBook,
    pub(crate) metrics: Metrics,
    /// Serialises control-plane changes, so read-modify-write of a config is atomic.
    pub(crate) control: tokio::sync::Mutex<()>,
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
                containers: options.containers,
                keep_warm: options.keep_warm,
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

    pub(crate) fn lookup(&self, name: &str) -> Result<Arc<Deployed>, InvokerError> {
        self.inner
            .functions
            .get(name)
            .map(|e| e.clone())
            .ok_or_else(|| InvokerError::NotFound(name.to_string()))
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

pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, InvokerError> + Send + 'static,
) -> Result<T, InvokerError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| InvokerError::Worker(WorkerError::Internal(format!("blocking task: {e}"))))?
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}
