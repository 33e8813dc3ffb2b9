use crate::config::FunctionConfig;
use crate::events::{Coalescer, Dispatchers, StatusStore};
use crate::queue::Broker;
use crate::triggers::Triggers;
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
    /// RabbitMQ for asynchronous invocations and triggers; the embedded queue when `None`.
    pub amqp_url: Option<String>,
    /// How long the status of an asynchronous invocation is kept, and at most how many.
    pub status_retention: Duration,
    pub status_max_records: u64,
    /// The region in ARNs (destination records, container environments).
    pub region: String,
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
    pub(crate) store: Arc<Store>,
    pub(crate) services: crate::services::Services,
    pub(crate) functions: DashMap<String, Arc<Deployed>>,
    pub(crate) wasm: WasmBackend,
    pub(crate) containers: Result<ContainerBackend, String>,
    pub(crate) keep_warm: Duration,
    global: Arc<Semaphore>,
    pub(crate) logs: LogBook,
    pub(crate) metrics: Metrics,
    /// Serialises control-plane changes, so read-modify-write of a config is atomic.
    pub(crate) control: tokio::sync::Mutex<()>,
    pub(crate) broker: Broker,
    pub(crate) status: StatusStore,
    pub(crate) dispatchers: Dispatchers,
    pub(crate) coalescer: Coalescer,
    pub(crate) triggers: Triggers,
    /// For callbacks.
    pub(crate) http: reqwest::Client,
    pub(crate) region: String,
    max_concurrency: u32,
}

impl Invoker {
    /// Opens the data dir and registers every stored function. Workers are built lazily on first
    /// call, from the compiled-artifact cache, so start-up cost does not grow with the fleet.
    /// Must run inside the Tokio runtime: it starts the queue connection and the event
    /// dispatchers.
    pub fn open(options: InvokerOptions) -> Result<Self, InvokerError> {
        std::fs::create_dir_all(&options.data_dir)?;
        let store = Arc::new(Store::open(&options.data_dir)?);
        let broker = match &options.amqp_url {
            Some(url) => Broker::rabbitmq(url)?,
            None => Broker::embedded(&options.data_dir)?,
        };
        let status = StatusStore::open(&options.data_dir, options.status_retention, options.status_max_records)?;
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
        let invoker = Self {
            inner: Arc::new(Inner {
                services: crate::services::Services::new(store.clone()),
                store,
                functions,
                wasm,
                containers: options.containers,
                keep_warm: options.keep_warm,
                global: Arc::new(Semaphore::new(options.max_concurrency as usize)),
                logs: LogBook::default(),
                metrics,
                control: tokio::sync::Mutex::new(()),
                broker,
                status,
                dispatchers: Dispatchers::default(),
                coalescer: Coalescer::default(),
                triggers: Triggers::default(),
                http: crate::events::callback_client(),
                region: options.region,
                max_concurrency: options.max_concurrency,
            }),
        };
        for config in invoker.list() {
            invoker.start_dispatcher(&config);
        }
        for trigger in invoker.inner.store.list_triggers()? {
            crate::triggers::start_trigger(&invoker.inner.triggers, &invoker, trigger);
        }
        invoker.spawn_status_expiry();
        Ok(invoker)
    }

    /// Starts (or resizes) the function's event dispatcher, sized by what the function could
    /// run at once: its reserved concurrency, else the server's limit.
    pub(crate) fn start_dispatcher(&self, config: &FunctionConfig) {
        let limit = config.concurrency.unwrap_or(self.inner.max_concurrency).min(u32::from(u16::MAX));
        crate::events::ensure_dispatcher(&self.inner.dispatchers, self, &config.name, limit as u16);
    }

    /// Drops expired invocation records once a minute, for as long as the invoker lives.
    fn spawn_status_expiry(&self) {
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                if let Err(e) = inner.status.expire(now_ms()).await {
                    tracing::warn!("expiring invocation records: {e}");
                }
            }
        });
    }

    /// The function's ARN as Lambda would write it.
    pub(crate) fn arn(&self, function: &str) -> String {
        format!("arn:aws:lambda:{}:000000000000:function:{function}", self.inner.region)
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
        self.invoke_as(name, &uuid::Uuid::new_v4().to_string(), payload).await
    }

    /// [`Invoker::invoke`] under a given request id (an async event keeps its id on every try).
    pub(crate) async fn invoke_as(&self, name: &str, request_id: &str, payload: Bytes) -> Result<InvokeResult, InvokerError> {
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
        let request_id = request_id.to_string();
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

    /// Like [`Invoker::invoke_as`], but a throttled call waits (with backoff, up to a second
    /// between tries) and tries again instead of failing — until `deadline_ms`, if given, after
    /// which the throttle is returned. For events and trigger batches, which are already queued
    /// and must not fail for lack of capacity.
    pub(crate) async fn invoke_when_admitted(
        &self,
        name: &str,
        request_id: &str,
        payload: Bytes,
        deadline_ms: Option<u64>,
    ) -> Result<InvokeResult, InvokerError> {
        let mut wait = Duration::from_millis(10);
        loop {
            match self.invoke_as(name, request_id, payload.clone()).await {
                Err(InvokerError::Throttled(scope)) => {
                    if deadline_ms.is_some_and(|d| now_ms() > d) {
                        return Err(InvokerError::Throttled(scope));
                    }
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(1));
                }
                other => return other,
            }
        }
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
