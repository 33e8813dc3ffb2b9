use bytes::Bytes;
use std::time::Duration;

/// Largest result a function may return: Lambda's synchronous response limit.
pub const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024;
/// Largest request body a function URL streams to a `wasi:http` component: Lambda's
/// synchronous payload limit, as for events.
pub const MAX_REQUEST_BYTES: usize = 6 * 1024 * 1024;
/// Per-invocation log capture. Only the tail is ever shown (4 KB in `X-Amz-Log-Result`, a bounded
/// buffer for `skiff logs`), so capture is capped to keep a chatty guest from costing the host.
pub const MAX_LOG_BYTES: usize = 256 * 1024;

/// What a backend needs to know about a function version in order to run it.
#[derive(Debug, Clone)]
pub struct ExecutionSpec {
    pub function: String,
    /// Lambda's `AWS_LAMBDA_FUNCTION_VERSION`: `$LATEST` or a published number.
    pub version: String,
    pub memory_mb: u32,
    pub timeout: Duration,
    /// The function's configured environment; the Lambda variables are added by the backend.
    pub env: Vec<(String, String)>,
    /// Keep an instance after a call for the next one (Wasm `wasi:http` components); `None`:
    /// every call gets a fresh instance.
    pub reuse: Option<ReusePolicy>,
}

/// How long a warm instance may serve: at most `max_calls` calls, and it is dropped after
/// `idle` without one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReusePolicy {
    pub max_calls: u32,
    pub idle: Duration,
}

/// One call of a function.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub request_id: String,
    pub payload: Bytes,
}

/// Lambda's error types for failures of the function itself (as opposed to service errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    /// The function ran past its timeout and was stopped.
    Timedout,
    /// The function needed more memory than its limit allows.
    OutOfMemory,
    /// The guest trapped or exited with a non-zero status.
    Unhandled,
    /// The guest produced a result larger than [`MAX_RESPONSE_BYTES`].
    ResponseTooLarge,
    /// A container's runtime exited while it was serving an invocation.
    ExitError,
    /// A container's runtime failed before it was ready: it exited, reported an init error, or
    /// did not ask for work in time.
    InitError,
    /// A container's runtime reported the invocation as failed (`/invocation/{id}/error`); the
    /// error document it posted is in [`FunctionError::document`].
    Reported,
}

impl ErrorType {
    pub const ALL: [ErrorType; 7] = [
        ErrorType::Timedout,
        ErrorType::OutOfMemory,
        ErrorType::Unhandled,
        ErrorType::ResponseTooLarge,
        ErrorType::ExitError,
        ErrorType::InitError,
        ErrorType::Reported,
    ];

    /// The `errorType` string Lambda uses for this failure.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::Timedout => "Sandbox.Timedout",
            ErrorType::OutOfMemory => "Runtime.OutOfMemory",
            ErrorType::Unhandled => "Runtime.Unhandled",
            ErrorType::ResponseTooLarge => "Function.ResponseSizeTooLarge",
            ErrorType::ExitError => "Runtime.ExitError",
            ErrorType::InitError => "Runtime.InitError",
            ErrorType::Reported => "Function.Error",
        }
    }
}

#[derive(Debug, Clone)]
pub struct FunctionError {
    pub error_type: ErrorType,
    pub message: String,
    /// The error document a runtime posted itself (Lambda passes it to the caller verbatim);
    /// `None` when the platform describes the failure.
    pub document: Option<Bytes>,
}

impl FunctionError {
    pub fn new(error_type: ErrorType, message: impl Into<String>) -> Self {
        Self { error_type, message: message.into(), document: None }
    }

    /// Lambda's timeout error, the same for every backend.
    pub fn timed_out(timeout: Duration) -> Self {
        Self::new(ErrorType::Timedout, format!("Task timed out after {:.2} seconds", timeout.as_secs_f64()))
    }

    /// Lambda's error for a result over [`MAX_RESPONSE_BYTES`].
    pub fn response_too_large() -> Self {
        Self::new(ErrorType::ResponseTooLarge, format!("Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."))
    }

    /// The JSON body a caller receives: the runtime's own document, or Lambda's
    /// `{"errorType", "errorMessage"}` shape.
    pub fn body(&self) -> Bytes {
        match &self.document {
            Some(doc) => doc.clone(),
            None => Bytes::from(serde_json::json!({ "errorType": self.error_type.as_str(), "errorMessage": self.message }).to_string()),
        }
    }
}

#[derive(Debug, Clone)]
pub enum Outcome {
    Success(Bytes),
    Error(FunctionError),
}

/// The result of one invocation, whatever its outcome.
#[derive(Debug, Clone)]
pub struct Execution {
    pub outcome: Outcome,
    /// What the function wrote to its log streams during this invocation (bounded).
    pub logs: Bytes,
    /// Time spent executing guest code, including instantiation.
    pub duration: Duration,
    /// Present on a cold start: time spent creating the execution environment for this call.
    pub init_duration: Option<Duration>,
    /// Peak memory the execution used, in bytes.
    pub max_memory_bytes: u64,
}

/// Why a container could not be started within the host budget (see `container::budget`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Exhausted {
    #[error("the host's memory budget for function containers is spent: {used} of {limit} MiB reserved, {needed} MiB more needed")]
    Memory { needed: u64, used: u64, limit: u64 },
    #[error("the host's process budget for function containers is spent: {used} of {limit} pids reserved, {needed} more needed")]
    Pids { needed: u64, used: u64, limit: u64 },
}

/// Failures of the platform (not of the guest): these become service errors, never `Unhandled`.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("invalid function code: {0}")]
    InvalidCode(String),
    #[error("function code does not satisfy the Wasm ABI: {0}")]
    Abi(String),
    /// The image named by a container function cannot be used (not in the local engine, no
    /// command to run, ...).
    #[error("{0}")]
    InvalidImage(String),
    /// No Docker engine is reachable, so container functions cannot run.
    #[error("container functions are unavailable: {0}")]
    Unavailable(String),
    /// A new container does not fit in the host's budget, even with every idle one evicted: a
    /// throttle, not a failure.
    #[error(transparent)]
    HostBudget(#[from] Exhausted),
    #[error("worker failure: {0}")]
    Internal(String),
}
