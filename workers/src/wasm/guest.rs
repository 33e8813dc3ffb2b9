use super::artifact::CompiledCode;
use super::engine::WasmBackend;
use super::limiter::MemoryCap;
use super::run;
use crate::{ExecutionSpec, Invocation, Worker, WorkerError, WorkerFuture};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::ResourceTable;
use wasmtime::{InstancePre, Linker};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::bindings::CommandPre;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// Store state of a preview 1 guest.
pub(crate) struct P1State {
    pub(crate) wasi: WasiP1Ctx,
    pub(crate) cap: MemoryCap,
}

/// Store state of a preview 2 (component) guest.
pub(crate) struct P2State {
    pub(crate) ctx: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) cap: MemoryCap,
}

impl WasiView for P2State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.ctx, table: &mut self.table }
    }
}

/// WASI linkers, built once per engine: linking is per-engine work, not per-function.
pub(crate) struct Linkers {
    p1: Linker<P1State>,
    p2: wasmtime::component::Linker<P2State>,
}

impl Linkers {
    pub(crate) fn new(engine: &wasmtime::Engine) -> Result<Self, WorkerError> {
        let internal = |e: wasmtime::Error| WorkerError::Internal(format!("linking WASI: {e:#}"));
        let mut p1 = Linker::new(engine);
        wasmtime_wasi::p1::add_to_linker_async(&mut p1, |s: &mut P1State| &mut s.wasi)
            .map_err(internal)?;
        let mut p2 = wasmtime::component::Linker::new(engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut p2).map_err(internal)?;
        Ok(Self { p1, p2 })
    }
}

/// A function version's pre-instantiated template: imports resolved and exports checked once,
/// so an invocation only allocates a pooled slot and runs.
pub(crate) enum Template {
    Module(InstancePre<P1State>),
    Component(CommandPre<P2State>),
}

/// A deployed Wasm function version. Cheap to clone; every invocation gets a fresh instance.
#[derive(Clone)]
pub struct WasmFunction {
    pub(crate) backend: WasmBackend,
    pub(crate) spec: Arc<ExecutionSpec>,
    pub(crate) template: Arc<Template>,
    /// The function's env plus the Lambda variables that do not change per call.
    pub(crate) env: Arc<Vec<(String, String)>>,
    /// Cleared by the first invocation, which reports itself as the cold start.
    cold: Arc<AtomicBool>,
    /// Time spent loading this version before its first call (compile or cache load), counted
    /// into the first call's init duration.
    load_time: Duration,
}

impl WasmFunction {
    pub(crate) fn new(
        backend: WasmBackend,
        spec: ExecutionSpec,
        code: &CompiledCode,
    ) -> Result<Self, WorkerError> {
        let abi = |e: wasmtime::Error| WorkerError::Abi(format!("{e:#}"));
        let linkers = backend.linkers();
        let template = match code {
            CompiledCode::Module(module) => {
                match module.get_export("_start") {
                    Some(wasmtime::ExternType::Func(_)) => {}
                    _ => return Err(WorkerError::Abi("a preview 1 module must export `_start` (a WASI command)".into())),
                }
                Template::Module(linkers.p1.instantiate_pre(module).map_err(abi)?)
            }
            CompiledCode::Component(component) => {
                let pre = linkers.p2.instantiate_pre(component).map_err(abi)?;
                Template::Component(CommandPre::new(pre).map_err(abi)?)
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
            backend,
            spec: Arc::new(spec),
            template: Arc::new(template),
            env: Arc::new(env),
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
        &self.spec
    }

    pub(crate) fn new_cap(&self) -> MemoryCap {
        MemoryCap::new((self.spec.memory_mb as usize) << 20)
    }
}

impl Worker for WasmFunction {
    fn invoke(&self, invocation: Invocation) -> WorkerFuture {
        let function = self.clone();
        let cold_init = self.cold.swap(false, Ordering::AcqRel).then_some(self.load_time);
        // Guest code runs in the caller's task, on the runtime's workers: it yields back to the
        // scheduler at every epoch tick (see `run::arm_limits`), so a busy guest holds a worker
        // for at most one tick at a time, and a no-op call pays for no thread hand-off.
        Box::pin(async move { run::execute(&function, invocation, cold_init).await })
    }
}
