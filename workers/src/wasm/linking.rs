//! What every guest of one engine is linked against: the store states of preview 1 and
//! preview 2 guests, the WASI linkers (built once per engine), and a version's pre-instantiated
//! template.

use super::artifact::CompiledCode;
use super::limiter::MemoryCap;
use crate::WorkerError;
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

impl Template {
    /// Resolves `code`'s imports and checks its exports once: a module must be a WASI command
    /// (`_start`), a component a `wasi:cli/command`.
    pub(crate) fn new(linkers: &Linkers, code: &CompiledCode) -> Result<Self, WorkerError> {
        let abi = |e: wasmtime::Error| WorkerError::Abi(format!("{e:#}"));
        match code {
            CompiledCode::Module(module) => {
                match module.get_export("_start") {
                    Some(wasmtime::ExternType::Func(_)) => {}
                    _ => return Err(WorkerError::Abi("a preview 1 module must export `_start` (a WASI command)".into())),
                }
                Ok(Template::Module(linkers.p1.instantiate_pre(module).map_err(abi)?))
            }
            CompiledCode::Component(component) => {
                let pre = linkers.p2.instantiate_pre(component).map_err(abi)?;
                Ok(Template::Component(CommandPre::new(pre).map_err(abi)?))
            }
        }
    }
}
