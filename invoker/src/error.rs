use skiff_workers::WorkerError;

/// Which limit turned a call away; Lambda tells the two apart in its 429's `Reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleScope {
    /// The function's own (reserved) concurrency is used up.
    Function,
    /// The platform-wide concurrency limit is used up.
    Global,
}

#[derive(Debug, thiserror::Error)]
pub enum InvokerError {
    #[error("Function not found: {0}")]
    NotFound(String),
    /// Something other than a function was not found (an invocation, a message, a trigger).
    #[error("{0}")]
    UnknownResource(String),
    /// The request is larger than its operation allows.
    #[error("{0}")]
    TooLarge(String),
    /// The durable queue could not take or give the message.
    #[error(transparent)]
    Queue(#[from] crate::queue::QueueError),
    /// The request itself is wrong (bad name, out-of-range setting, invalid code): nothing changed.
    #[error("{0}")]
    Invalid(String),
    #[error("Rate exceeded: {}", match .0 { ThrottleScope::Function => "the function's concurrency limit is reached", ThrottleScope::Global => "the server's concurrency limit is reached" })]
    Throttled(ThrottleScope),
    #[error("storage failure: {0}")]
    Storage(String),
    #[error(transparent)]
    Worker(#[from] WorkerError),
}

impl From<redb::Error> for InvokerError {
    fn from(e: redb::Error) -> Self {
        InvokerError::Storage(e.to_string())
    }
}

macro_rules! storage_from {
    ($($t:ty),*) => {$(
        impl From<$t> for InvokerError {
            fn from(e: $t) -> Self { InvokerError::Storage(e.to_string()) }
        }
    )*};
}
storage_from!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    std::io::Error,
    serde_json::Error
);
