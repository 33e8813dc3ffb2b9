use skiff_api::error::{ErrorKind, Kinded};
use skiff_api::Invalid;
use skiff_state::lease::Fence;
use skiff_state::StoreError;
use skiff_workers::WorkerError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error("Service not found: {0}")]
    NotFound(String),
    /// No Docker engine answered at start-up; services cannot run on this server.
    #[error("services need a Docker engine: {0}")]
    NoEngine(String),
    #[error("services are not started yet")]
    NotStarted,
    /// Boxed: redb's error is large, and this is the rare path.
    #[error("service definitions: {0}")]
    Store(Box<StoreError>),
    #[error(transparent)]
    Engine(#[from] WorkerError),
    /// An order from a scheduler whose lease term is over (another node schedules now).
    #[error("order refused: the scheduler's term {} of lease {} is over", .0.term, .0.lease)]
    Fenced(Fence),
    /// Another node's agent failed or could not be reached.
    #[error("node {node}: {message}")]
    Node { node: String, message: String, unreachable: bool },
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        ServiceError::Store(Box::new(e))
    }
}

impl Kinded for ServiceError {
    fn kind(&self) -> ErrorKind {
        match self {
            ServiceError::Invalid(_) | ServiceError::NoEngine(_) | ServiceError::NotStarted => ErrorKind::Invalid,
            ServiceError::Engine(WorkerError::InvalidImage(_)) => ErrorKind::Invalid,
            ServiceError::NotFound(_) => ErrorKind::NotFound,
            ServiceError::Store(e) => e.kind(),
            ServiceError::Engine(_) => ErrorKind::Internal,
            ServiceError::Fenced(_) => ErrorKind::Conflict,
            ServiceError::Node { unreachable: true, .. } => ErrorKind::Unavailable,
            ServiceError::Node { .. } => ErrorKind::Internal,
        }
    }
}
