//! Running one invocation: admission, the worker, the execution in its own task, and what is
//! recorded afterwards (metrics, the log ring).

mod log_record;

use crate::admission::{Admission, Admitted};
use crate::builder::WorkerBuilder;
use crate::error::InvokerError;
use crate::logs::LogBook;
use crate::metrics::Metrics;
use crate::registry::{Deployed, Registry};
use bytes::Bytes;
use skiff_api::{now_ms, CodeInfo, FunctionConfig, LogEntry, ThrottleScope, VersionRef, WasmFormat};
use skiff_workers::container::Exhausted;
use skiff_workers::{Execution, HttpAnswer, HttpBody, HttpCall, Invocation, Outcome, Worker, WorkerError, WorkerFuture};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// What a finished invocation reports back to the gateway.
#[derive(Debug, Clone)]
pub struct InvokeResult {
    pub request_id: String,
    /// What ran: `$LATEST` or a published version (Lambda's `X-Amz-Executed-Version`).
    pub version: VersionRef,
    pub execution: Execution,
    /// The Lambda-style log of this invocation (START … REPORT).
    pub log: String,
}

/// What an HTTP request handed to a function came to.
pub enum HttpServed {
    /// The function answered (or failed before it could).
    Answered { request_id: String, answer: HttpAnswer },
    /// The function takes events: here is the request, untouched.
    TakesEvents(hyper::Request<HttpBody>),
}

/// One admitted execution: the version it runs, its worker, and the slot it holds.
struct Call {
    deployed: Arc<Deployed>,
    worker: Arc<dyn Worker>,
    admitted: Admitted,
}

/// Runs invocations. Cheap to clone.
#[derive(Clone)]
pub struct Runner {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Arc<Registry>,
    admission: Box<dyn Admission>,
    builder: Arc<WorkerBuilder>,
    logs: Arc<LogBook>,
    metrics: Arc<Metrics>,
}

impl Runner {
    pub(crate) fn new(registry: Arc<Registry>, admission: Box<dyn Admission>, builder: Arc<WorkerBuilder>, logs: Arc<LogBook>, metrics: Arc<Metrics>) -> Self {
        Self { inner: Arc::new(Inner { registry, admission, builder, logs, metrics }) }
    }

    /// Runs one invocation to completion. Admission is immediate: if a concurrency limit is
    /// reached the call is throttled, never queued.
    pub async fn invoke(&self, name: &str, version: VersionRef, payload: Bytes) -> Result<InvokeResult, InvokerError> {
        self.invoke_as(name, version, &uuid::Uuid::new_v4().to_string(), payload).await
    }

    /// [`Runner::invoke`] under a given request id (an async event keeps its id on every try).
    pub(crate) async fn invoke_as(&self, name: &str, version: VersionRef, request_id: &str, payload: Bytes) -> Result<InvokeResult, InvokerError> {
        let call = self.admit(name, version).await?;
        let invocation = Invocation { request_id: request_id.to_string(), payload };
        let execution = call.worker.invoke(invocation);
        self.spawn(call, request_id.to_string(), execution).await.map_err(|source| InvokerError::Task { what: "invocation task", source })?
    }

    /// Hands an HTTP request to a function that takes requests as they are (a `wasi:http`
    /// component), answering as soon as the function responds: its body streams on while the
    /// execution, which keeps its concurrency slot, finishes. A function that takes events gets
    /// the request back untouched, to be sent as an event.
    pub async fn serve_http(&self, name: &str, version: VersionRef, request: hyper::Request<HttpBody>) -> Result<HttpServed, InvokerError> {
        // Only a Wasm component may export an HTTP handler: anything else takes events, and is
        // admitted when its event runs (after the request body was read).
        let (function, deployed) = self.resolve(name, version)?;
        if !matches!(deployed.config.code, CodeInfo::Wasm { format: WasmFormat::Component, .. }) {
            return Ok(HttpServed::TakesEvents(request));
        }
        // A component is admitted before its worker loads (from the compiled artifact, a
        // moment), so a throttled call loads nothing.
        let admitted = self.admission(name, &function)?;
        let worker = self.inner.builder.worker_for(&deployed).await?;
        if !worker.speaks_http() {
            // A component that is a command: its slot is freed here, as above.
            return Ok(HttpServed::TakesEvents(request));
        }
        let call = Call { deployed, worker, admitted };
        let request_id = uuid::Uuid::new_v4().to_string();
        let (respond, answer) = tokio::sync::oneshot::channel();
        let execution = call.worker.serve_http(HttpCall { request_id: request_id.clone(), request, respond });
        let task = self.spawn(call, request_id.clone(), execution);
        match answer.await {
            Ok(answer) => Ok(HttpServed::Answered { request_id, answer }),
            // The worker gave no answer: it failed before running the function.
            Err(_) => match task.await.map_err(|source| InvokerError::Task { what: "invocation task", source })? {
                Err(e) => Err(e),
                Ok(_) => Err(InvokerError::Worker(WorkerError::Internal("the function ended without an answer".into()))),
            },
        }
    }

    /// Resolves `name` at `version`, admits one execution against the function's limits
    /// (reserved concurrency belongs to the function, so every version's calls count against
    /// its own entry) and readies its worker.
    async fn admit(&self, name: &str, version: VersionRef) -> Result<Call, InvokerError> {
        let (function, deployed) = self.resolve(name, version)?;
        let admitted = self.admission(name, &function)?;
        let worker = self.inner.builder.worker_for(&deployed).await?;
        Ok(Call { deployed, worker, admitted })
    }

    /// The function `name` and the version of it that `version` names.
    fn resolve(&self, name: &str, version: VersionRef) -> Result<(Arc<Deployed>, Arc<Deployed>), InvokerError> {
        let function = self.inner.registry.lookup(name)?;
        let deployed = self.inner.registry.version_of(function.clone(), version)?;
        Ok((function, deployed))
    }

    /// One execution's slot under `function`'s limits, or the throttle (counted).
    fn admission(&self, name: &str, function: &Deployed) -> Result<Admitted, InvokerError> {
        self.inner.admission.admit(function).map_err(|scope| throttled(&self.inner.metrics, name, scope))
    }

    /// Runs `execution` in its own task holding the call's admission, so a caller that goes
    /// away neither cancels a running guest halfway nor frees its slot before the guest is
    /// done; the task records the execution when it ends.
    fn spawn(&self, call: Call, request_id: String, execution: WorkerFuture) -> JoinHandle<Result<InvokeResult, InvokerError>> {
        let this = self.clone();
        tokio::spawn(async move {
            let Call { deployed, admitted, .. } = call;
            let _admitted = admitted;
            let config = &deployed.config;
            let metrics = &this.inner.metrics;
            let gauge = metrics.concurrent.with_label_values(&[&config.name]);
            gauge.inc();
            metrics.concurrent_total.inc();
            let result = execution.await;
            gauge.dec();
            metrics.concurrent_total.dec();
            let execution = result.map_err(|e| match e {
                WorkerError::HostBudget(spent) => throttled(metrics, &config.name, host_scope(spent)),
                other => InvokerError::Worker(other),
            })?;
            Ok(this.record(config, request_id, execution))
        })
    }

    /// Like [`Runner::invoke_as`], but a throttled call waits (with backoff, up to a second
    /// between tries) and tries again instead of failing — until `deadline_ms`, if given, after
    /// which the throttle is returned. For events and trigger batches, which are already queued
    /// and must not fail for lack of capacity.
    pub(crate) async fn invoke_when_admitted(
        &self,
        name: &str,
        version: VersionRef,
        request_id: &str,
        payload: Bytes,
        deadline_ms: Option<u64>,
    ) -> Result<InvokeResult, InvokerError> {
        let mut wait = Duration::from_millis(10);
        loop {
            match self.invoke_as(name, version, request_id, payload.clone()).await {
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
        let log = log_record::lambda_log(&request_id, config, &execution);
        self.inner.logs.record(LogEntry {
            request_id: request_id.clone(),
            function: config.name.clone(),
            version: config.version,
            timestamp_ms: now_ms(),
            outcome: outcome.to_string(),
            text: log.clone(),
        });
        InvokeResult { request_id, version: config.executed_version(), execution, log }
    }
}

/// Counts a throttle of `function` and answers it.
fn throttled(metrics: &Metrics, function: &str, scope: ThrottleScope) -> InvokerError {
    metrics.throttles.with_label_values(&[function, scope.as_str()]).inc();
    InvokerError::Throttled(scope)
}

/// Which throttle a container start refused by the host budget is.
fn host_scope(spent: Exhausted) -> ThrottleScope {
    match spent {
        Exhausted::Memory { .. } => ThrottleScope::HostMemory,
        Exhausted::Pids { .. } => ThrottleScope::HostPids,
    }
}
