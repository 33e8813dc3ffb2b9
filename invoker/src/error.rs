use skiff_api::error::{ErrorKind, Kinded};
use skiff_api::{Invalid, ThrottleScope};
use skiff_state::queue::QueueError;
use skiff_state::StoreError;
use skiff_workers::WorkerError;

#[derive(Debug, thiserror::Error)]
pub enum InvokerError {
    #[error("Function not found: {0}")]
    NotFound(String),
    /// A create named a function or an alias that exists.
    #[error("{what} already exists: {name}")]
    Exists { what: &'static str, name: String },
    /// A version cannot go while aliases still route calls to it.
    #[error("Unable to delete version {version} of {function} because these aliases reference it: {aliases:?}")]
    VersionInUse { function: String, version: u32, aliases: Vec<String> },
    /// An update named a revision that is no longer the function's current one.
    #[error("The Revision Id provided does not match the latest Revision Id of {function}. Call GetFunction/GetAlias to get the latest Revision Id")]
    StaleRevision { function: String },
    /// Something other than a function was not found (an invocation, a message, a trigger).
    #[error("{0}")]
    UnknownResource(String),
    /// The request is larger than its operation allows.
    #[error("{0}")]
    TooLarge(String),
    /// The durable queue could not take or give the message.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// The request itself is wrong (bad name, out-of-range setting, invalid code): nothing changed.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error("Rate exceeded: {}", .0.describe())]
    Throttled(ThrottleScope),
    /// Definitions, code or status records could not be read or written.
    #[error("storage failure: {0}")]
    Storage(#[from] StoreError),
    #[error(transparent)]
    Worker(#[from] WorkerError),
    /// A task of ours (an invocation's, a compile's) ended without an answer: a bug or a
    /// panic, never the caller's fault.
    #[error("internal failure: {what}: {source}")]
    Task {
        what: &'static str,
        #[source]
        source: tokio::task::JoinError,
    },
}

impl InvokerError {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        InvokerError::Invalid(Invalid(message.into()))
    }

    /// Code the user sent that cannot run is their error (400), not ours.
    pub(crate) fn from_code(e: WorkerError) -> Self {
        match e {
            WorkerError::InvalidCode(m) => InvokerError::invalid(format!("invalid wasm: {m}")),
            WorkerError::Abi(m) => InvokerError::invalid(format!("unsupported wasm: {m}")),
            WorkerError::InvalidImage(m) => InvokerError::invalid(m),
            other => InvokerError::Worker(other),
        }
    }
}

impl Kinded for InvokerError {
    fn kind(&self) -> ErrorKind {
        match self {
            InvokerError::NotFound(_) => ErrorKind::FunctionNotFound,
            InvokerError::UnknownResource(_) => ErrorKind::NotFound,
            InvokerError::Exists { .. } => ErrorKind::Exists,
            InvokerError::VersionInUse { .. } => ErrorKind::Conflict,
            InvokerError::StaleRevision { .. } => ErrorKind::PreconditionFailed,
            InvokerError::TooLarge(_) => ErrorKind::TooLarge,
            InvokerError::Queue(e) => e.kind(),
            InvokerError::Invalid(_) => ErrorKind::Invalid,
            InvokerError::Throttled(scope) => ErrorKind::Throttled(*scope),
            InvokerError::Storage(e) => e.kind(),
            // No Docker engine: a dependency of the server is missing, not a fault in it.
            InvokerError::Worker(WorkerError::Unavailable(_)) => ErrorKind::Unavailable,
            InvokerError::Worker(_) | InvokerError::Task { .. } => ErrorKind::Internal,
        }
    }
}

/// Runs `f` on the blocking pool (compiles, file and database I/O), so it holds no runtime
/// worker.
pub(crate) async fn blocking<T: Send + 'static>(what: &'static str, f: impl FnOnce() -> Result<T, InvokerError> + Send + 'static) -> Result<T, InvokerError> {
    tokio::task::spawn_blocking(f).await.map_err(|source| InvokerError::Task { what, source })?
}
