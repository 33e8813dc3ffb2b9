//! Storage failures that name what failed: the database operation or the file, with the
//! underlying error kept as the source.

use skiff_api::error::{ErrorKind, Kinded};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{what}: {source}")]
    Database {
        what: String,
        #[source]
        source: redb::Error,
    },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("stored record {key} is unreadable: {source}")]
    Corrupt {
        key: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("the commit thread of {0} has stopped")]
    WriterStopped(&'static str),
    /// A compare-and-swap write found another revision than it expected.
    #[error("{key} was changed concurrently: expected {expected}, found {found}")]
    Conflict { key: String, expected: String, found: String },
    /// A fenced write from a lease term that has ended: another holder acts now.
    #[error("{key} not written: lease {lease} term {term} is over")]
    Fenced { key: String, lease: String, term: u64 },
    /// The backing store cannot be reached (a cluster store without quorum).
    #[error("the state store is unavailable: {0}")]
    Unavailable(String),
}

impl StoreError {
    /// A closure for `map_err` that names the failed database operation.
    pub fn db<E: Into<redb::Error>>(what: impl Into<String>) -> impl FnOnce(E) -> StoreError {
        let what = what.into();
        move |e| StoreError::Database { what, source: e.into() }
    }

    /// Whether this is a file that is not there (a blob this node does not hold).
    pub fn is_missing_file(&self) -> bool {
        matches!(self, StoreError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }

    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> StoreError {
        let path = path.into();
        move |source| StoreError::Io { path, source }
    }
}

impl Kinded for StoreError {
    fn kind(&self) -> ErrorKind {
        match self {
            StoreError::Conflict { .. } | StoreError::Fenced { .. } => ErrorKind::Conflict,
            StoreError::Unavailable(_) => ErrorKind::Unavailable,
            _ => ErrorKind::Internal,
        }
    }
}
