//! One function container: started for a version, serving one invocation at a time until it is
//! destroyed. Whatever happens to a call — success, error, timeout, crash — the instance either
//! stays reusable or is destroyed; a container is never left behind (see `Drop`).

use super::backend::ContainerBackend;
use super::budget::Reservation;
use super::docker;
use super::link::{Exit, Job, Link, Reply, Status};
use super::sandbox::{caps, container_user, create_body, function_arn, ContainerSpec, Placement};
use crate::{ErrorType, FunctionError, Invocation, Outcome, WorkerError};
use bytes::Bytes;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::AbortHandle;

/// How long to wait for the agent to flush the runtime's output after a call.
const FENCE_WAIT: Duration = Duration::from_millis(200);

pub struct ContainerInstance {
    worker: String,
    /// `None` once destroyed.
    container: Option<String>,
    link: Arc<Link>,
    jobs: mpsc::Sender<Job>,
    accept: AbortHandle,
    socket: PathBuf,
    backend: ContainerBackend,
    spec: Arc<ContainerSpec>,
    /// Its share of the host budget; returned once the container has been removed.
    reservation: Option<Reservation>,
    /// Create + start + runtime init, up to its first `/invocation/next`.
    pub init_duration: Duration,
}

/// Why a container could not be made ready.
#[derive(Debug)]
pub enum StartError {
    /// The runtime failed its init: a function error, reported to the caller (`Runtime.InitError`).
    Init { error: FunctionError, logs: Bytes, init_duration: Duration },
    /// The platform failed (engine error, image gone): a service error.
    Platform(WorkerError),
}

/// The outcome of one call on an instance. `reusable` is false when the container has to go
/// (it exited, or was killed at the timeout).
#[derive(Debug)]
pub struct RunResult {
    pub outcome: Outcome,
    pub logs: Bytes,
    pub duration: Duration,
    pub reusable: bool,
    pub max_memory_bytes: u64,
}

enum Ended {
    Reply(Result<Reply, oneshot::error::RecvError>),
    Exited(Exit),
    Timeout,
}

impl ContainerInstance {
    /// Creates and starts a container and waits until its runtime asks for work.
    pub async fn start(backend: &ContainerBackend, spec: Arc<ContainerSpec>, provisioned: bool) -> Result<Self, StartError> {
        let options = backend.options();
        let reservation = backend.budget().reserve(caps(&spec)).await.map_err(|e| StartError::Platform(e.into()))?;
        let worker = uuid::Uuid::new_v4().simple().to_string()[..16].to_string();
        let socket = options.run_dir.join(format!("{worker}.sock"));
        let (link, jobs) = Link::new(function_arn(&options.region, &spec.exec.function));
        let platform = |e: std::io::Error| StartError::Platform(WorkerError::Internal(format!("runtime socket: {e}")));
        let (accept, admit) = super::socket::listen(&link, &socket, container_user(&spec)).map_err(platform)?;
        let (agent, socket_str) = (options.agent.to_string_lossy(), socket.to_string_lossy());
        let placement = Placement { worker: &worker, owner: &options.owner, region: &options.region, agent: &agent, socket: &socket_str, provisioned };
        let body = create_body(&spec, &placement);
        let name = format!("skiff-{}-{worker}", spec.exec.function);
        let started = Instant::now();
        let mut status = link.status.subscribe();
        let container = match docker::create_and_start(&backend.inner.docker, &name, body, |id| admit.container(id)).await {
            Ok(id) => id,
            Err(e) => {
                accept.abort();
                let _ = std::fs::remove_file(&socket);
                return Err(StartError::Platform(e));
            }
        };
        let mut instance = Self {
            worker,
            container: Some(container),
            link,
            jobs,
            accept,
            socket,
            backend: backend.clone(),
            spec,
            reservation: Some(reservation),
            init_duration: Duration::ZERO,
        };
        let waited = tokio::time::timeout(options.init_timeout, instance.wait_init(&mut status)).await;
        instance.init_duration = started.elapsed();
        let failure = match waited {
            Ok(Status::Ready) => {
                instance.end_init_boost();
                return Ok(instance);
            }
            Ok(Status::InitFailed) => reported_init_error(&instance.link),
            Ok(Status::Exited(exit)) => {
                let reported = instance.link.init_error.lock().unwrap_or_else(|p| p.into_inner()).is_some();
                match reported {
                    true => reported_init_error(&instance.link),
                    false => init_error(format!("Runtime exited during init: {}", instance.describe_exit(exit).await.0)),
                }
            }
            Ok(Status::Starting) => init_error("Runtime init ended unexpectedly"),
            Err(_) => init_error(format!("Runtime did not become ready within {:.2} seconds of starting", options.init_timeout.as_secs_f64())),
        };
        instance.link.fence(FENCE_WAIT).await;
        let logs = instance.link.take_logs();
        let init_duration = instance.init_duration;
        instance.destroy().await;
        Err(StartError::Init { error: failure, logs, init_duration })
    }

    /// Waits until init is over: the runtime asked for work, reported an init error, or exited —
    /// or the container stopped without the agent ever reporting (it could not start at all),
    /// which the engine tells us, so that case fails at once rather than at the init timeout.
    async fn wait_init(&self, status: &mut watch::Receiver<Status>) -> Status {
        let id = self.container.clone().unwrap_or_default();
        let docker = self.backend.inner.docker.clone();
        let settled = |s: &Status| !matches!(s, Status::Starting);
        tokio::select! {
            s = status.wait_for(settled) => return s.map(|s| s.clone()).unwrap_or(Status::Exited(Exit::default())),
            _ = docker::wait_stopped(&docker, &id) => {}
        }
        // Stopped: give the agent's own report, which is more precise, a moment to arrive.
        match tokio::time::timeout(Duration::from_millis(200), status.wait_for(settled)).await {
            Ok(Ok(s)) => s.clone(),
            _ => Status::Exited(Exit::default()),
        }
    }

    pub fn worker_id(&self) -> &str {
        &self.worker
    }

    /// False once the runtime has exited (a crash while idle, say): such an instance is useless.
    pub fn alive(&self) -> bool {
        !matches!(*self.link.status.borrow(), Status::Exited(_))
    }

    /// Hands one invocation to the runtime and waits for its answer, its exit, or the deadline.
    pub async fn run(&self, invocation: &Invocation) -> RunResult {
        let timeout = self.spec.exec.timeout;
        let (reply, answer) = oneshot::channel();
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        let job = Job {
            request_id: invocation.request_id.clone(),
            payload: invocation.payload.clone(),
            deadline_ms: now_ms + timeout.as_millis() as u64,
            trace_id: trace_id(&invocation.request_id, now_ms),
            reply,
        };
        let started = Instant::now();
        let mut status = self.link.status.subscribe();
        let ended = if self.jobs.send(job).await.is_err() {
            Ended::Exited(Exit::default())
        } else {
            tokio::select! {
                biased;
                reply = answer => Ended::Reply(reply),
                exit = wait_exit(&mut status) => Ended::Exited(exit),
                _ = tokio::time::sleep(timeout) => Ended::Timeout,
            }
        };
        let duration = started.elapsed();
        let (outcome, reusable) = match ended {
            Ended::Reply(Ok(Reply::Response(body))) => (Outcome::Success(body), true),
            Ended::Reply(Ok(Reply::Error { document, error_type })) => (Outcome::Error(reported_error(document, error_type)), true),
            Ended::Reply(Ok(Reply::TooLarge)) => (Outcome::Error(FunctionError::response_too_large()), true),
            Ended::Reply(Err(_)) => {
                (Outcome::Error(FunctionError::new(ErrorType::Unhandled, "the runtime asked for the next event without answering this one")), false)
            }
            Ended::Exited(exit) => {
                let (description, oom) = self.describe_exit(exit).await;
                let kind = if oom { ErrorType::OutOfMemory } else { ErrorType::ExitError };
                let message = format!("RequestId: {} Error: Runtime exited with error: {description}", invocation.request_id);
                (Outcome::Error(FunctionError::new(kind, message)), false)
            }
            Ended::Timeout => (Outcome::Error(FunctionError::timed_out(timeout)), false),
        };
        // The runtime wrote its output before answering; the fence makes sure we have all of it.
        if !matches!(*self.link.status.borrow(), Status::Exited(_)) {
            self.link.fence(FENCE_WAIT).await;
        }
        RunResult { outcome, logs: self.link.take_logs(), duration, reusable, max_memory_bytes: self.peak_memory() }
    }

    /// Lowers the CPU limit from the init boost to the function's share, in the background: the
    /// first call does not wait for the engine.
    fn end_init_boost(&self) {
        let memory_mb = self.spec.exec.memory_mb;
        let share = super::sandbox::cpu_nanos(memory_mb);
        if share >= super::sandbox::init_cpu_nanos(memory_mb) {
            return;
        }
        let (docker, id) = (self.backend.inner.docker.clone(), self.container.clone().unwrap_or_default());
        tokio::spawn(async move {
            if let Err(e) = docker::set_cpu(&docker, &id, share).await {
                tracing::debug!(container = %id, "ending the init CPU boost: {e}");
            }
        });
    }

    /// Kills and removes the container and frees its socket.
    pub async fn destroy(mut self) {
        if let Some(removal) = self.release() {
            removal.await;
        }
    }

    /// Stops serving the container's socket and hands back the container's removal, once: `None`
    /// when it was already released. Shared by `destroy` (awaits it) and `Drop` (spawns it).
    fn release(&mut self) -> Option<impl std::future::Future<Output = ()> + Send + 'static> {
        let id = self.container.take()?;
        self.accept.abort();
        let _ = std::fs::remove_file(&self.socket);
        let docker = self.backend.inner.docker.clone();
        let reservation = self.reservation.take();
        Some(async move {
            if let Err(e) = docker::remove(&docker, &id).await {
                tracing::warn!(container = %id, "could not remove container: {e}");
            }
            drop(reservation);
        })
    }

    /// "exit status N" / "signal: killed" (Lambda's wording), and whether the memory cgroup's
    /// OOM killer did it.
    async fn describe_exit(&self, exit: Exit) -> (String, bool) {
        let (code, signal, oom) = if exit.reported {
            (exit.code, exit.signal, exit.oom)
        } else {
            let id = self.container.as_deref().unwrap_or_default();
            match docker::exit_state(&self.backend.inner.docker, id).await {
                Some((code, oom)) if code > 128 => (None, Some(code as i32 - 128), oom),
                Some((code, oom)) => (Some(code as i32), None, oom),
                None => (None, None, false),
            }
        };
        let mut description = match (code, signal) {
            (Some(code), _) => format!("exit status {code}"),
            (None, Some(9)) => "signal: killed".to_string(),
            (None, Some(signal)) => format!("signal: {signal}"),
            (None, None) => "the execution environment was lost".to_string(),
        };
        // The agent reports the runtime's own exit; without its report, the whole container
        // was ended from outside (`docker kill`, the engine stopping), which is worth saying.
        if !exit.reported && (code, signal) != (None, None) {
            description.push_str(" (the container was stopped from outside the runtime)");
        }
        (description, oom)
    }

    /// Peak memory of the container's cgroup (v1 or v2, cgroupfs layout); 0 if not readable.
    fn peak_memory(&self) -> u64 {
        let Some(id) = self.container.as_deref() else { return 0 };
        [format!("/sys/fs/cgroup/memory/docker/{id}/memory.max_usage_in_bytes"), format!("/sys/fs/cgroup/docker/{id}/memory.peak")]
            .iter()
            .find_map(|p| std::fs::read_to_string(p).ok()?.trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for ContainerInstance {
    /// A dropped instance (its call was abandoned) must not leak its container.
    fn drop(&mut self) {
        if let (Some(removal), Ok(handle)) = (self.release(), tokio::runtime::Handle::try_current()) {
            handle.spawn(removal);
        }
    }
}

async fn wait_exit(status: &mut watch::Receiver<Status>) -> Exit {
    match status.wait_for(|s| matches!(s, Status::Exited(_))).await {
        Ok(s) => match &*s {
            Status::Exited(exit) => *exit,
            _ => Exit::default(),
        },
        Err(_) => Exit::default(),
    }
}

/// `errorType` and `errorMessage` of a runtime's error document, if the document is a JSON object.
fn error_fields(document: &[u8]) -> Option<(Option<String>, Option<String>)> {
    let parsed = serde_json::from_slice::<serde_json::Value>(document).ok().filter(|v| v.is_object())?;
    let field = |k: &str| parsed[k].as_str().map(str::to_owned);
    Some((field("errorType"), field("errorMessage")))
}

/// The runtime's own error document, passed through; its `errorType`/`errorMessage` (or the
/// error-type header) make the one-line message for the log.
fn reported_error(document: Bytes, header_type: Option<String>) -> FunctionError {
    let fields = error_fields(&document);
    let (kind, message) = fields.clone().unwrap_or_default();
    let kind = kind.or(header_type).unwrap_or_else(|| "Unhandled".into());
    let document = match fields {
        Some(_) => document,
        None => Bytes::from(serde_json::json!({ "errorType": kind, "errorMessage": String::from_utf8_lossy(&document) }).to_string()),
    };
    let message = format!("{kind}: {}", message.unwrap_or_default());
    FunctionError { error_type: ErrorType::Reported, message, document: Some(document) }
}

fn init_error(message: impl Into<String>) -> FunctionError {
    FunctionError::new(ErrorType::InitError, message)
}

/// The error the runtime posted to `/runtime/init/error`, passed to the caller as posted when
/// it is a proper error document (as Lambda does: awslambdaric's `Runtime.ImportModuleError`
/// reaches the caller under that type); otherwise a `Runtime.InitError` quoting it.
fn reported_init_error(link: &Link) -> FunctionError {
    let document = link.init_error.lock().unwrap_or_else(|p| p.into_inner()).clone().unwrap_or_default();
    match error_fields(&document) {
        Some((Some(kind), Some(message))) => {
            FunctionError { error_type: ErrorType::InitError, message: format!("Runtime reported an init error: {kind}: {message}"), document: Some(document) }
        }
        _ => init_error(format!("Runtime reported an init error: {}", String::from_utf8_lossy(&document))),
    }
}

/// An X-Ray-shaped trace header (`Root=1-<epoch hex>-<96-bit id>;Sampled=0`), so runtime
/// clients that propagate `_X_AMZN_TRACE_ID` find a well-formed value.
fn trace_id(request_id: &str, now_ms: u64) -> String {
    let hex: String = request_id.chars().filter(char::is_ascii_hexdigit).take(24).collect();
    format!("Root=1-{:08x}-{hex:0<24};Sampled=0", now_ms / 1000)
}
