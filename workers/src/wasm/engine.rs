use super::artifact::{self, CompiledCode};
use super::bounds::{MAX_LINEAR_MEMORY, MAX_TABLE_ELEMENTS};
use super::compiler::Compiler;
use super::guest::WasmFunction;
use super::limiter::EPOCH_TICK;
use super::linking::Linkers;
use crate::{ExecutionSpec, WorkerError};
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::Arc;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Enforce timeouts (epoch interruption) and memory caps (store limiter). Only the limits
    /// benchmark turns this off, to measure what enforcement costs.
    pub enforce_limits: bool,
    /// How many instances may be live at once; sized from the global concurrency limit.
    pub max_instances: u32,
    /// Where compiled artifacts are cached, keyed by code hash and engine fingerprint.
    pub cache_dir: PathBuf,
    /// Where code is compiled: in a limited child process (the server) or in this process.
    pub compiler: Compiler,
}

impl EngineOptions {
    /// The settings a compiler child needs to build an engine whose artifacts this one loads.
    fn child_args(&self) -> Vec<String> {
        vec!["--max-instances".into(), self.max_instances.to_string(), "--enforce-limits".into(), self.enforce_limits.to_string()]
    }
}

/// The engine a compiler child compiles with: configured as the server's, from the arguments
/// [`EngineOptions::child_args`] gave it, except that it allocates instances on demand — it
/// never instantiates, and the pool's gigabytes of reserved tables would count against its
/// memory limit. The artifacts are the same (a test holds the two engines' fingerprints equal).
pub fn compiler_engine(max_instances: u32, enforce_limits: bool) -> Result<Engine, WorkerError> {
    let options = EngineOptions { enforce_limits, max_instances, cache_dir: PathBuf::new(), compiler: Compiler::InProcess };
    let mut config = engine_config(&options)?;
    config.allocation_strategy(InstanceAllocationStrategy::OnDemand);
    Engine::new(&config).map_err(|e| WorkerError::Internal(format!("creating wasm engine: {e:#}")))
}

/// The shared Wasm engine. Cheap to clone.
#[derive(Clone)]
pub struct WasmBackend {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    options: EngineOptions,
    child_args: Vec<String>,
    fingerprint: String,
    linkers: Linkers,
    _ticker: Option<EpochTicker>,
}

impl WasmBackend {
    pub fn new(options: EngineOptions) -> Result<Self, WorkerError> {
        let engine = Engine::new(&engine_config(&options)?).map_err(|e| WorkerError::Internal(format!("creating wasm engine: {e:#}")))?;
        std::fs::create_dir_all(&options.cache_dir).map_err(|e| WorkerError::Internal(format!("creating {}: {e}", options.cache_dir.display())))?;
        let fingerprint = engine_fingerprint(&engine);
        artifact::sweep(&options.cache_dir, &fingerprint);
        let linkers = Linkers::new(&engine)?;
        let ticker = options.enforce_limits.then(|| EpochTicker::start(engine.clone()));
        let child_args = options.child_args();
        Ok(Self { inner: Arc::new(Inner { engine, options, child_args, fingerprint, linkers, _ticker: ticker }) })
    }

    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    pub fn enforces_limits(&self) -> bool {
        self.inner.options.enforce_limits
    }

    /// Compiles `code` (or loads it from the on-disk cache) without instantiating anything.
    /// This is the validation step of a deploy: code that fails here is never stored.
    /// CPU-heavy for large modules: call it from a blocking context.
    pub fn compile(&self, code_hash: &str, code: &[u8]) -> Result<CompiledCode, WorkerError> {
        let compiler = (&self.inner.options.compiler, self.inner.child_args.as_slice());
        artifact::load_or_compile(&self.inner.engine, compiler, &self.cache_path(code_hash), code)
    }

    /// Loads a previously compiled artifact from the cache, if present and compatible.
    pub fn load_cached(&self, code_hash: &str) -> Option<CompiledCode> {
        artifact::load_cached(&self.inner.engine, &self.cache_path(code_hash))
    }

    /// Removes the compiled artifact of `code_hash`, once no function runs that code.
    pub fn forget(&self, code_hash: &str) {
        artifact::remove(&self.cache_path(code_hash));
    }

    /// Builds the per-version template: links WASI and checks the guest's ABI.
    pub fn prepare(&self, spec: ExecutionSpec, code: &CompiledCode) -> Result<WasmFunction, WorkerError> {
        WasmFunction::new(self.inner.engine.clone(), self.enforces_limits(), &self.inner.linkers, spec, code)
    }

    fn cache_path(&self, code_hash: &str) -> PathBuf {
        self.inner.options.cache_dir.join(format!("{code_hash}-{}.cwasm", self.inner.fingerprint))
    }
}

/// Bytes of each linear memory a warm slot keeps mapped when its instance ends; the next instance
/// of the same code in that slot gets them reset (zeroed, or copied from the module's image)
/// rather than page-faulted in again. A CPython guest touches megabytes of heap while it starts:
/// with 16 MiB kept, a fresh `hello-http-py` call went from 4.45 to 3.21 ms at p50 and 32
/// connections from 239 to 593 req/s (BENCHMARKS.md, 2026-12-04). The price is memory: an idle
/// warm slot holds up to this much (after a 32-connection burst the server kept 534 MB resident
/// against 121 MB), and there are at most `max_unused_warm_slots` of them (64 here).
const KEEP_RESIDENT_BYTES: usize = 16 << 20;

fn engine_config(options: &EngineOptions) -> Result<Config, WorkerError> {
    let mut pool = PoolingAllocationConfig::default();
    let instances = options.max_instances.max(1);
    // A component (e.g. a componentize-py guest) holds several core instances, memories and
    // tables; budget for a handful per live instance.
    pool.total_component_instances(instances)
        .total_core_instances(instances * 8)
        .total_memories(instances * 4)
        .total_tables(instances * 8)
        .total_stacks(instances)
        .max_memory_size(MAX_LINEAR_MEMORY as usize)
        .max_core_instances_per_component(64)
        .max_memories_per_component(16)
        .max_tables_per_component(64)
        .max_tables_per_module(8)
        .table_elements(MAX_TABLE_ELEMENTS)
        .max_core_instance_size(4 << 20)
        .max_component_instance_size(4 << 20)
        // Keep a few warm slots so a hot function reuses its already-faulted-in pages.
        .max_unused_warm_slots(instances.min(64))
        .linear_memory_keep_resident(KEEP_RESIDENT_BYTES);

    let mut config = Config::new();
    config
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
        .epoch_interruption(options.enforce_limits)
        .memory_init_cow(true)
        .parallel_compilation(true)
        .wasm_component_model(true);
    Ok(config)
}

/// Names the engine settings a compiled artifact depends on, so a cache entry made by another
/// wasmtime version or configuration is never even tried.
fn engine_fingerprint(engine: &Engine) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    format!("{:016x}", h.finish())
}

/// Advances the engine's epoch on a dedicated thread; stops when dropped.
struct EpochTicker {
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl EpochTicker {
    fn start(engine: Engine) -> Self {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::Builder::new()
            .name("skiff-epoch".into())
            .spawn(move || {
                while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .expect("spawning the epoch ticker thread");
        Self { stop }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_compiler_child_makes_artifacts_the_server_loads() {
        let options = EngineOptions { enforce_limits: true, max_instances: 4, cache_dir: PathBuf::new(), compiler: Compiler::InProcess };
        let server = Engine::new(&engine_config(&options).unwrap()).unwrap();
        let child = compiler_engine(4, true).unwrap();
        assert_eq!(engine_fingerprint(&server), engine_fingerprint(&child));
        let artifact = crate::wasm::precompile::precompile(&child, br#"(module (func (export "_start")))"#).unwrap();
        // SAFETY: made just above by an engine of the same settings.
        unsafe { wasmtime::Module::deserialize(&server, &artifact) }.expect("the server loads the child's artifact");
    }
}
