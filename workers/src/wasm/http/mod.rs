//! Calls of `wasi:http/proxy` components: an instance (fresh, or warm when the function reuses
//! them) is handed an HTTP request through its `incoming-handler`.
//!
//! - [`event`]: an invocation's payload becomes a request and the response its result, both
//!   buffered (the Invoke API, async events, triggers).
//! - [`exchange`]: a function URL's request is handed over as it is, both bodies streaming.

pub(crate) mod event;
pub(crate) mod exchange;
mod response_body;

use super::linking::{HttpState, NoOutgoingRequests};
use super::log_pipe::LogPipe;
use super::run::{arm_limits, with_deadline, Ended, Prepared};
use super::warm::{Finishing, WarmPool};
use crate::{Execution, Outcome, WorkerError, MAX_LOG_BYTES};
use bytes::Bytes;
use futures_util::FutureExt as _;
use hyper::header::HeaderValue;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::ResourceTable;
use wasmtime::Store;
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, Scheme};
use wasmtime_wasi_http::p2::bindings::{Proxy, ProxyPre};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpView};

/// Where the component's `response-outparam` delivers its answer.
pub(crate) type Outparam = tokio::sync::oneshot::Receiver<Result<hyper::Response<HyperOutgoingBody>, ErrorCode>>;

/// The header each request carries the invocation's id in.
pub(crate) const REQUEST_ID_HEADER: &str = "x-amzn-requestid";

/// One instance of a component with its store: made for a call, and kept for the next one when
/// the function opts into reuse.
pub(crate) struct HttpInstance {
    store: Store<HttpState>,
    /// `None` until the first call instantiates it (inside that call's limits).
    proxy: Option<Proxy>,
    /// The instance's stdout and stderr; each call takes what it wrote.
    logs: LogPipe,
}

impl HttpInstance {
    fn new(function: &Prepared, request_id: &str) -> Self {
        let logs = LogPipe::new(MAX_LOG_BYTES);
        let mut wasi = WasiCtxBuilder::new();
        // A reused instance keeps the environment of the call that made it: the request id of
        // each call is in its `x-amzn-requestid` header.
        wasi.stdout(logs.clone()).stderr(logs.clone()).envs(&function.env).env("AWS_LAMBDA_REQUEST_ID", request_id);
        let state = HttpState { ctx: wasi.build(), http: WasiHttpCtx::new(), table: ResourceTable::new(), cap: function.new_cap(), hooks: NoOutgoingRequests };
        Self { store: Store::new(&function.engine, state), proxy: None, logs }
    }

    /// What the instance logged since the last call's log was taken.
    pub(crate) fn take_logs(&mut self) -> Bytes {
        self.logs.take()
    }

    /// Whether the memory cap refused a growth, and the peak memory, so far.
    pub(crate) fn memory(&self) -> (bool, u64) {
        let cap = &self.store.data().cap;
        (cap.refused(), cap.peak_bytes() as u64)
    }
}

/// A component version's call path: what each of its calls needs.
#[derive(Clone, Copy)]
pub(crate) struct Component<'a> {
    pub(crate) function: &'a Prepared,
    pub(crate) pre: &'a ProxyPre<HttpState>,
    /// Instances kept between calls, when the function reuses them.
    pub(crate) warm: Option<&'a Arc<WarmPool<HttpInstance>>>,
}

impl Component<'_> {
    /// An instance from `warm` with the calls it has served (see [`WarmPool::take_or_await`]),
    /// or a new one.
    pub(crate) async fn instance(self, request_id: &str) -> (HttpInstance, u32) {
        let taken = match self.warm {
            Some(warm) => warm.take_or_await().await,
            None => None,
        };
        taken.unwrap_or_else(|| (HttpInstance::new(self.function, request_id), 0))
    }

    /// Marks the instance of a call that has answered in full as coming back to `warm` soon.
    pub(crate) fn finishing(self) -> Option<Finishing<HttpInstance>> {
        self.warm.map(|warm| warm.finishing())
    }

    /// The init duration a call on an instance that has served `calls` calls reports, given
    /// the version's own (`cold_init`, its first call's). With reuse, a new instance is a new
    /// execution environment, so its call is a cold start too, as on Lambda; without, every
    /// call has a fresh instance and only the version's first counts.
    pub(crate) fn cold_init(self, calls: u32, cold_init: Option<Duration>) -> Option<Duration> {
        match (self.warm, calls) {
            (Some(_), 0) => Some(cold_init.unwrap_or_default()),
            _ => cold_init,
        }
    }

    /// Gives `instance` back to `warm` after its `calls`-th call, to be kept if that call was
    /// `clean`.
    pub(crate) fn give_back(self, instance: HttpInstance, calls: u32, clean: bool) {
        if let Some(warm) = self.warm {
            warm.put(instance, calls, clean);
        }
    }

    /// Hands `request` to `instance` (instantiating it first if it is new) within the call's
    /// limits, while `answer` takes what the component answers (given as long as the call may
    /// take: `None` if it took longer). Returns how the guest run ended, the answer, and how
    /// long instantiating took (zero for a warm instance).
    pub(crate) async fn serve<B, A, F>(
        self,
        instance: &mut HttpInstance,
        request_id: &str,
        request: hyper::Request<B>,
        answer: impl FnOnce(Outparam) -> F,
    ) -> Result<(Ended, Option<A>, Duration), WorkerError>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
        F: Future<Output = A>,
    {
        let served = serve(self.function, self.pre, instance, request_id, request, answer)
            .await
            .map_err(|e| WorkerError::Internal(format!("handing the request to the component: {e:#}")))?;
        if let (Some(warm), false) = (self.warm, served.2.is_zero()) {
            warm.made_in(served.2);
        }
        Ok(served)
    }
}

/// What a call of a component came to, for the invoker's records.
pub(crate) fn execution(started: Instant, cold_init: Option<Duration>, instantiated_in: Duration, outcome: Outcome, logs: Bytes, peak: u64) -> Execution {
    Execution { outcome, logs, duration: started.elapsed(), init_duration: cold_init.map(|load| load + instantiated_in), max_memory_bytes: peak }
}

async fn serve<B, A, F>(
    function: &Prepared,
    pre: &ProxyPre<HttpState>,
    instance: &mut HttpInstance,
    request_id: &str,
    mut request: hyper::Request<B>,
    answer: impl FnOnce(Outparam) -> F,
) -> wasmtime::Result<(Ended, Option<A>, Duration)>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<wasmtime_wasi_http::Error>,
    F: Future<Output = A>,
{
    let started = Instant::now();
    if let Ok(id) = HeaderValue::from_str(request_id) {
        request.headers_mut().insert(REQUEST_ID_HEADER, id);
    }
    let (enforce, timeout) = (function.enforce_limits, function.spec.timeout);
    let store = &mut instance.store;
    arm_limits(store, enforce, timeout, |s| &mut s.cap);
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let request = store.data_mut().http().new_incoming_request(Scheme::Http, request)?;
    let outparam = store.data_mut().http().new_response_outparam(sender)?;
    let mut instantiated_in = Duration::ZERO;
    let proxy = &mut instance.proxy;
    let run = async {
        if proxy.is_none() {
            *proxy = Some(pre.instantiate_async(&mut *store).await?);
            instantiated_in = started.elapsed();
        }
        let handler = proxy.as_ref().expect("instantiated above").wasi_http_incoming_handler();
        handler.call_handle(&mut *store, request, outparam).await
    };
    let raced = async {
        let run = with_deadline(enforce, timeout, run);
        let answer = async { tokio::time::timeout(timeout, answer(receiver)).await.ok() };
        tokio::pin!(run, answer);
        // Both run at once (a response body is read while the guest writes it). Once the guest
        // failed, what it has not answered it never will: its outparam and body wait in its store,
        // which only goes when this returns.
        tokio::select! {
            ended = &mut run => match ended {
                Ended::Returned => (ended, answer.await),
                failed => (failed, answer.now_or_never().flatten()),
            },
            answer = &mut answer => (run.await, answer),
        }
    };
    let (ended, answer) = raced.await;
    Ok((ended, answer, instantiated_in))
}
