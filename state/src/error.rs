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
    /// A blob whose content does not hash to its name: damaged on disk, or replaced.
    #[error("code blob {sha256} is corrupt: its content hashes to {actual}")]
    CorruptBlob { sha256: String, actual: String },
    /// A storage file that cannot be written now (a full or failing disk). Writes are refused
    /// until it can be reopened, which is retried by itself.
    #[error("the {store} store cannot write {}: {reason}; it recovers by itself once the disk takes writes again", path.display())]
    Unwritable { store: &'static str, path: PathBuf, reason: String },
    /// A storage file that cannot be opened because its content is damaged.
    #[error("{} is damaged ({reason}); Skiff will not start on it: move it aside to start with an empty one (what it held is lost), or restore it from a backup", path.display())]
    Damaged { path: PathBuf, reason: String },
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

    /// Whether this is a blob that is there but not what its name says.
    pub fn is_corrupt_blob(&self) -> bool {
        matches!(self, StoreError::CorruptBlob { .. })
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
            StoreError::Unavailable(_) | StoreError::Unwritable { .. } => ErrorKind::Unavailable,
            // A full disk is the operator's to fix and passes: retryable, like a store that is down.
            StoreError::Io { source, .. } if matches!(source.kind(), std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded) => {
                ErrorKind::Unavailable
            }
            _ => ErrorKind::Internal,
        }
    }
}
