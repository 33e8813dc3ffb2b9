//! Error kinds: what a failure means to a caller, independent of which layer found it. Each
//! library's error says which kind it is; the gateway turns a kind into one HTTP answer, so
//! the mapping exists once.

/// A request that is wrong in itself (bad name, out-of-range setting, malformed body). Nothing
/// was changed when this is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

/// Which limit turned a call away; Lambda tells the two apart in its 429's `Reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleScope {
    /// The function's own (reserved) concurrency is used up.
    Function,
    /// The platform-wide concurrency limit is used up.
    Global,
    /// A new container's memory limit does not fit in the host's budget for containers.
    HostMemory,
    /// A new container's pids limit does not fit in the host's budget for containers.
    HostPids,
}

impl ThrottleScope {
    pub const ALL: [ThrottleScope; 4] = [ThrottleScope::Function, ThrottleScope::Global, ThrottleScope::HostMemory, ThrottleScope::HostPids];

    /// The metric label of this scope.
    pub fn as_str(self) -> &'static str {
        match self {
            ThrottleScope::Function => "function",
            ThrottleScope::Global => "global",
            ThrottleScope::HostMemory => "host_memory",
            ThrottleScope::HostPids => "host_pids",
        }
    }

    /// The limit that was reached, in words.
    pub fn describe(self) -> &'static str {
        match self {
            ThrottleScope::Function => "the function's concurrency limit is reached",
            ThrottleScope::Global => "the server's concurrency limit is reached",
            ThrottleScope::HostMemory => "the host's memory budget for containers is spent",
            ThrottleScope::HostPids => "the host's process budget for containers is spent",
        }
    }

    /// Lambda's `Reason` in a 429; the host budget has no Lambda counterpart, so it is named in
    /// Lambda's style.
    pub fn reason(self) -> &'static str {
        match self {
            ThrottleScope::Function => "ReservedFunctionConcurrentInvocationLimitExceeded",
            ThrottleScope::Global => "ConcurrentInvocationLimitExceeded",
            ThrottleScope::HostMemory => "HostMemoryLimitExceeded",
            ThrottleScope::HostPids => "HostProcessLimitExceeded",
        }
    }
}

/// What a failure means to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The named function does not exist.
    FunctionNotFound,
    /// Another named thing (invocation, message, trigger, service) does not exist.
    NotFound,
    /// The request is wrong; nothing changed.
    Invalid,
    /// The request is larger than its operation allows.
    TooLarge,
    /// A concurrency limit is reached; try again later.
    Throttled(ThrottleScope),
    /// Someone else changed the thing since it was read; read again and retry.
    Conflict,
    /// The thing already exists (a create of a taken name).
    Exists,
    /// The request named a revision that is no longer current (Lambda's `RevisionId`).
    PreconditionFailed,
    /// A dependency (broker, shared state) is down; nothing was stored. Retry later.
    Unavailable,
    /// Skiff itself failed (storage, an invocation's task, the engine).
    Internal,
}

/// Implemented by every library error that can reach a caller.
pub trait Kinded {
    fn kind(&self) -> ErrorKind;
}
