use super::artifact::CompiledCode;
use super::http::{self, Component, HttpInstance};
use super::linking::{Linkers, Template};
use super::run::{self, Prepared};
use super::warm::WarmPool;
use crate::{ExecutionSpec, HttpCall, Invocation, Worker, WorkerError, WorkerFuture};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A deployed Wasm function version. Cheap to clone; every invocation gets a fresh instance,
/// unless the function reuses them (`wasi:http` components only).
#[derive(Clone)]
pub struct WasmFunction {
    prepared: Arc<Prepared>,
    /// Instances kept between calls, when the function opts into reuse.
    warm: Option<Arc<WarmPool<HttpInstance>>>,
    /// Cleared by the first invocation, which reports itself as the cold start.
    cold: Arc<AtomicBool>,
    /// Time spent loading this version before its first call (compile or cache load), counted
    /// into the first call's init duration.
    load_time: Duration,
}

impl WasmFunction {
    pub(crate) fn new(
        engine: wasmtime::Engine,
        enforce_limits: bool,
        linkers: &Linkers,
        spec: ExecutionSpec,
        code: &CompiledCode,
    ) -> Result<Self, WorkerError> {
        let template = Template::new(linkers, code)?;
        let warm = match (spec.reuse, &template) {
            (None, _) => None,
            (Some(policy), Template::Http(_)) => Some(WarmPool::new(policy)),
            (Some(_), _) => {
                return Err(WorkerError::Abi(
                    "reuse needs a wasi:http component (exporting wasi:http/incoming-handler): a WASI command's _start runs once per instance".into(),
                ))
            }
        };
        let mut env = spec.env.clone();
        env.extend([
            ("AWS_LAMBDA_FUNCTION_NAME".to_string(), spec.function.clone()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE".to_string(), spec.memory_mb.to_string()),
            ("AWS_LAMBDA_FUNCTION_VERSION".to_string(), spec.version.to_string()),
            ("AWS_LAMBDA_FUNCTION_TIMEOUT".to_string(), spec.timeout.as_secs().to_string()),
        ]);
        Ok(Self {
            prepared: Arc::new(Prepared { engine, enforce_limits, spec, template, env }),
            warm,
            cold: Arc::new(AtomicBool::new(true)),
            load_time: Duration::ZERO,
        })
    }

    /// Records how long loading this version took, to be reported with its first invocation.
    pub fn with_load_time(mut self, load_time: Duration) -> Self {
        self.load_time = load_time;
        self
    }

    pub fn spec(&self) -> &ExecutionSpec {
        &self.prepared.spec
    }
}

impl WasmFunction {
    /// What one call takes along into its future: the version, its warm instances, and the
    /// init duration it reports (only the version's first call has one of its own).
    fn call(&self) -> (Arc<Prepared>, Option<Arc<WarmPool<HttpInstance>>>, Option<Duration>) {
        let cold_init = self.cold.swap(false, Ordering::AcqRel).then_some(self.load_time);
        (self.prepared.clone(), self.warm.clone(), cold_init)
    }
}

impl Worker for WasmFunction {
    fn invoke(&self, invocation: Invocation) -> WorkerFuture {
        let (prepared, warm, cold_init) = self.call();
        // Guest code runs in the caller's task, on the runtime's workers: it yields back to the
        // scheduler at every epoch tick (see `run::arm_limits`), so a busy guest holds a worker
        // for at most one tick at a time, and a no-op call pays for no thread hand-off.
        Box::pin(async move {
            match &prepared.template {
                Template::Http(pre) => http::event::execute(Component { function: &prepared, pre, warm: warm.as_ref() }, invocation, cold_init).await,
                _ => run::execute(&prepared, invocation, cold_init).await,
            }
        })
    }

    fn speaks_http(&self) -> bool {
        matches!(self.prepared.template, Template::Http(_))
    }

    fn serve_http(&self, call: HttpCall) -> WorkerFuture {
        let (prepared, warm, cold_init) = self.call();
        Box::pin(async move {
            match &prepared.template {
                Template::Http(pre) => http::exchange::exchange(Component { function: &prepared, pre, warm: warm.as_ref() }, call, cold_init).await,
                _ => Err(WorkerError::Internal("a function that is not a wasi:http component takes events, not HTTP requests".into())),
            }
        })
    }

    fn retire(&self) {
        if let Some(warm) = &self.warm {
            warm.retire();
        }
    }
}
