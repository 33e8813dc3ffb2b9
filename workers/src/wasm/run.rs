//! One invocation of a Wasm function: a fresh store and instance, the event on stdin, the result
//! from stdout, and the failure classified the way Lambda reports it.

use super::limiter::MemoryCap;
use super::limiter::EPOCH_TICK;
use super::linking::{P1State, P2State, Template};
use crate::ExecutionSpec;
use crate::{ErrorType, Execution, FunctionError, Invocation, Outcome, WorkerError};
use crate::{MAX_LOG_BYTES, MAX_RESPONSE_BYTES};
use bytes::Bytes;
use std::future::Future;
use std::task::Poll;
use std::time::{Duration, Instant};
use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, Store, Trap, UpdateDeadline};
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};
use wasmtime_wasi::{I32Exit, WasiCtxBuilder};

/// What an invocation needs of its version: the engine, the template and the environment.
pub(crate) struct Prepared {
    pub(crate) engine: wasmtime::Engine,
    pub(crate) enforce_limits: bool,
    pub(crate) spec: ExecutionSpec,
    pub(crate) template: Template,
    /// The function's env plus the Lambda variables that do not change per call.
    pub(crate) env: Vec<(String, String)>,
}

impl Prepared {
    pub(crate) fn new_cap(&self) -> MemoryCap {
        MemoryCap::new((self.spec.memory_mb as usize) << 20)
    }
}

/// How much of stderr's tail goes into an `Unhandled` error message.
const STDERR_TAIL_IN_ERROR: usize = 1024;

/// How a guest run ended, before classification.
pub(crate) enum Ended {
    Returned,
    Exited(i32),
    Failed(wasmtime::Error),
    /// The wall-clock deadline passed while the guest was blocked in a host call, where epoch
    /// interruption cannot reach it.
    Deadline,
}

pub(crate) async fn execute(function: &Prepared, invocation: Invocation, cold_init: Option<Duration>) -> Result<Execution, WorkerError> {
    let started = Instant::now();
    // One byte over the limit tells an oversized result from one that exactly fits.
    let stdout = MemoryOutputPipe::new(MAX_RESPONSE_BYTES + 1);
    let stderr = MemoryOutputPipe::new(MAX_LOG_BYTES);
    let mut wasi = WasiCtxBuilder::new();
    wasi.stdin(MemoryInputPipe::new(invocation.payload))
        .stdout(stdout.clone())
        .stderr(stderr.clone())
        .args(&[&function.spec.function])
        .envs(&function.env)
        .env("AWS_LAMBDA_REQUEST_ID", &invocation.request_id);

    let enforce = function.enforce_limits;
    let timeout = function.spec.timeout;
    let (ended, instantiated_in, cap) = match &function.template {
        Template::Module(pre) => {
            let state = P1State { wasi: wasi.build_p1(), cap: function.new_cap() };
            let mut store = Store::new(&function.engine, state);
            arm_limits(&mut store, enforce, timeout, |s| &mut s.cap);
            let mut instantiated_in = Duration::ZERO;
            let run = async {
                let instance = pre.instantiate_async(&mut store).await?;
                instantiated_in = started.elapsed();
                let start = instance.get_typed_func::<(), ()>(&mut store, "_start")?;
                start.call_async(&mut store, ()).await
            };
            let ended = with_deadline(enforce, timeout, run).await;
            (ended, instantiated_in, store.into_data().cap)
        }
        Template::Component(pre) => {
            let state = P2State { ctx: wasi.build(), table: ResourceTable::new(), cap: function.new_cap() };
            let mut store = Store::new(&function.engine, state);
            arm_limits(&mut store, enforce, timeout, |s| &mut s.cap);
            let mut instantiated_in = Duration::ZERO;
            let run = async {
                let command = pre.instantiate_async(&mut store).await?;
                instantiated_in = started.elapsed();
                match command.wasi_cli_run().call_run(&mut store).await? {
                    Ok(()) => Ok(()),
                    Err(()) => Err(wasmtime::Error::new(I32Exit(1))),
                }
            };
            let ended = with_deadline(enforce, timeout, run).await;
            (ended, instantiated_in, store.into_data().cap)
        }
        Template::Http(_) => return Err(WorkerError::Internal("a wasi:http component is called through its handler, not run".into())),
    };

    let logs = stderr.contents();
    let outcome = classify(ended, function, stdout.contents(), &logs, cap.refused());
    Ok(Execution {
        outcome,
        logs,
        duration: started.elapsed(),
        init_duration: cold_init.map(|load| load + instantiated_in),
        max_memory_bytes: cap.peak_bytes() as u64,
    })
}

pub(crate) fn arm_limits<T: 'static>(store: &mut Store<T>, enforce: bool, timeout: Duration, cap: fn(&mut T) -> &mut MemoryCap) {
    if !enforce {
        return;
    }
    store.limiter(move |s| cap(s) as &mut dyn ResourceLimiter);
    // At every tick the guest either yields to the scheduler (guests share the runtime's worker
    // threads, so none may hold one for longer than a tick) or, past its deadline, is stopped
    // with `Trap::Interrupt`.
    let deadline = Instant::now() + timeout;
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |_| Ok(if Instant::now() >= deadline { UpdateDeadline::Interrupt } else { UpdateDeadline::Yield(1) }));
}

/// Runs the guest, bounded by the wall-clock deadline as a backstop to epoch interruption (which
/// stops guest code, but not a guest parked in a host call such as a sleep).
///
/// The timer is armed only once the guest actually parks (the run future returns `Pending`):
/// a call that finishes within its first epoch tick without blocking in the host completes on
/// its first poll and pays for no timer at all.
pub(crate) async fn with_deadline(enforce: bool, timeout: Duration, run: impl Future<Output = wasmtime::Result<()>>) -> Ended {
    let result = if enforce {
        let deadline = tokio::time::Instant::now() + timeout + 2 * EPOCH_TICK;
        let mut run = std::pin::pin!(run);
        let mut timer: Option<std::pin::Pin<Box<tokio::time::Sleep>>> = None;
        let raced = std::future::poll_fn(|cx| {
            if let Poll::Ready(result) = run.as_mut().poll(cx) {
                return Poll::Ready(Some(result));
            }
            let timer = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
            match timer.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            }
        })
        .await;
        match raced {
            Some(result) => result,
            None => return Ended::Deadline,
        }
    } else {
        run.await
    };
    match result {
        Ok(()) => Ended::Returned,
        Err(e) => match e.downcast_ref::<I32Exit>() {
            Some(I32Exit(code)) => Ended::Exited(*code),
            None => Ended::Failed(e),
        },
    }
}

pub(crate) fn classify(ended: Ended, function: &Prepared, stdout: Bytes, stderr: &[u8], memory_refused: bool) -> Outcome {
    let spec = &function.spec;
    let fail = |error_type, message: String| Outcome::Error(FunctionError::new(error_type, message));
    let timed_out = || Outcome::Error(FunctionError::timed_out(spec.timeout));
    let failure = match ended {
        Ended::Returned | Ended::Exited(0) if stdout.len() > MAX_RESPONSE_BYTES => {
            return Outcome::Error(FunctionError::response_too_large());
        }
        Ended::Returned | Ended::Exited(0) => return Outcome::Success(stdout),
        Ended::Deadline => return timed_out(),
        Ended::Failed(e) if matches!(e.downcast_ref::<Trap>(), Some(Trap::Interrupt)) => {
            return timed_out();
        }
        Ended::Exited(code) => format!("exit status {code}"),
        Ended::Failed(e) => match e.downcast_ref::<Trap>() {
            Some(trap) => trap.to_string(),
            None => format!("{e:#}"),
        },
    };
    if memory_refused {
        return fail(ErrorType::OutOfMemory, format!("Runtime exited: memory limit of {} MB exceeded ({failure})", spec.memory_mb));
    }
    let mut message = failure;
    let tail = String::from_utf8_lossy(tail(stderr, STDERR_TAIL_IN_ERROR));
    let tail = tail.trim_end();
    if !tail.is_empty() {
        message.push_str("; stderr: ");
        message.push_str(tail);
    }
    fail(ErrorType::Unhandled, message)
}

/// The last `n` bytes of `bytes`.
pub(crate) fn tail(bytes: &[u8], n: usize) -> &[u8] {
    &bytes[bytes.len().saturating_sub(n)..]
}
