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
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

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

/// Store state of a `wasi:http/proxy` component.
pub(crate) struct HttpState {
    pub(crate) ctx: WasiCtx,
    pub(crate) http: WasiHttpCtx,
    pub(crate) table: ResourceTable,
    pub(crate) cap: MemoryCap,
    pub(crate) hooks: NoOutgoingRequests,
}

impl WasiView for HttpState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.ctx, table: &mut self.table }
    }
}

impl WasiHttpView for HttpState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.hooks }
    }
}

/// The export that makes a component an HTTP handler.
const INCOMING_HANDLER: &str = "wasi:http/incoming-handler@0.2";

/// WASI linkers, built once per engine: linking is per-engine work, not per-function.
pub(crate) struct Linkers {
    p1: Linker<P1State>,
    p2: wasmtime::component::Linker<P2State>,
    http: wasmtime::component::Linker<HttpState>,
}

impl Linkers {
    pub(crate) fn new(engine: &wasmtime::Engine) -> Result<Self, WorkerError> {
        let internal = |e: wasmtime::Error| WorkerError::Internal(format!("linking WASI: {e:#}"));
        let mut p1 = Linker::new(engine);
        wasmtime_wasi::p1::add_to_linker_async(&mut p1, |s: &mut P1State| &mut s.wasi).map_err(internal)?;
        let mut p2 = wasmtime::component::Linker::new(engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut p2).map_err(internal)?;
        let mut http = wasmtime::component::Linker::new(engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut http).map_err(internal)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut http).map_err(internal)?;
        Ok(Self { p1, p2, http })
    }
}

/// A function version's pre-instantiated template: imports resolved and exports checked once,
/// so an invocation only allocates a pooled slot and runs.
pub(crate) enum Template {
    Module(InstancePre<P1State>),
    Component(CommandPre<P2State>),
    /// A `wasi:http/proxy` component: called through its `incoming-handler`.
    Http(ProxyPre<HttpState>),
}

impl Template {
    /// Resolves `code`'s imports and checks its exports once: a module must be a WASI command
    /// (`_start`), a component a `wasi:cli/command` or a `wasi:http/proxy` (told apart by
    /// whether it exports `wasi:http/incoming-handler`).
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
            CompiledCode::Component(component) if exports_incoming_handler(component) => {
                let pre = linkers.http.instantiate_pre(component).map_err(abi)?;
                Ok(Template::Http(ProxyPre::new(pre).map_err(abi)?))
            }
            CompiledCode::Component(component) => {
                let pre = linkers.p2.instantiate_pre(component).map_err(abi)?;
                Ok(Template::Component(CommandPre::new(pre).map_err(abi)?))
            }
        }
    }
}

fn exports_incoming_handler(component: &wasmtime::component::Component) -> bool {
    let ty = component.component_type();
    let engine = component.engine();
    let found = ty.exports(engine).any(|(name, _)| name.starts_with(INCOMING_HANDLER));
    found
}

/// Outgoing HTTP from a function is refused (`HTTP-request-denied`): a Wasm function has no
/// network, as a container function has none unless it opts into egress.
pub(crate) struct NoOutgoingRequests;

impl WasiHttpHooks for NoOutgoingRequests {
    fn send_request(
        &mut self,
        _request: hyper::Request<WasiBody>,
        _options: Option<RequestOptions>,
        _fut: Box<dyn std::future::Future<Output = Result<(), HttpError>> + Send>,
    ) -> Box<
        dyn std::future::Future<Output = Result<(hyper::Response<WasiBody>, Box<dyn std::future::Future<Output = Result<(), HttpError>> + Send>), HttpError>>
            + Send,
    > {
        Box::new(async { Err(HttpError::HttpRequestDenied) })
    }
}
