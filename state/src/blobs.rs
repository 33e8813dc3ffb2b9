//! The blob store port: code kept by its SHA-256, written once, read by whoever runs it. The
//! single-node adapter keeps files under `<data>/code/`; a cluster adapter also fetches from a
//! peer that holds the blob (and checks the hash).
//!
//! Every read is checked against the name: a blob that does not hash to its name is
//! `StoreError::CorruptBlob`, never returned as code, so damaged or swapped files can never run
//! as another function's code.
//!
//! Invariant (kept by the deployer): a definition is committed only after its blob is durable,
//! so every stored definition can be served after a crash; a blob no definition refers to is
//! garbage, removed when the last reference goes.

use crate::StoreError;
use async_trait::async_trait;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

#[async_trait]
pub trait BlobStore: Send + Sync {
    /// Stores `bytes` under `sha256` durably, unless it is already there.
    async fn put(&self, sha256: &str, bytes: bytes::Bytes) -> Result<(), StoreError>;
    async fn get(&self, sha256: &str) -> Result<Vec<u8>, StoreError>;
    /// Removes the blob; removing one that is not there is not an error.
    async fn remove(&self, sha256: &str) -> Result<(), StoreError>;
    /// Checks this node's copy without fetching one: `CorruptBlob` if it is damaged; a blob
    /// this node does not hold is not an error.
    async fn check(&self, sha256: &str) -> Result<(), StoreError>;
}

/// Checks that `bytes` are what the name `sha256` says they are.
pub fn verify(sha256: &str, bytes: &[u8]) -> Result<(), StoreError> {
    let actual = hex::encode(Sha256::digest(bytes));
    if actual == sha256 {
        return Ok(());
    }
    Err(StoreError::CorruptBlob { sha256: sha256.to_string(), actual })
}

pub struct LocalBlobs {
    dir: PathBuf,
    /// Blobs `check` found intact, with the stamp of the file it read: checked again only once
    /// the file changes, so showing a function does not hash its code every time.
    intact: Arc<Mutex<HashMap<String, Stamp>>>,
}

/// What changes whenever a file's content does: its inode, size and change time (which, unlike
/// the modification time, cannot be set back by hand).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    inode: u64,
    size: u64,
    changed: (i64, i64),
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Self {
        Self { inode: meta.ino(), size: meta.size(), changed: (meta.ctime(), meta.ctime_nsec()) }
    }
}

impl LocalBlobs {
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let dir = data_dir.join("code");
        std::fs::create_dir_all(&dir).map_err(StoreError::io(&dir))?;
        Ok(Self { dir, intact: Arc::default() })
    }

    fn path(&self, sha256: &str) -> PathBuf {
        self.dir.join(sha256)
    }

    /// Temp file, fsync, rename, fsync the directory: the blob is whole or absent. A blob that
    /// is already there is kept if it is intact and replaced if it is not, so deploying the
    /// same code again repairs a damaged copy.
    fn write(dir: &Path, path: &Path, sha256: &str, bytes: &[u8]) -> Result<(), StoreError> {
        if std::fs::read(path).is_ok_and(|stored| verify(sha256, &stored).is_ok()) {
            return Ok(());
        }
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(StoreError::io(dir))?;
        tmp.write_all(bytes).map_err(StoreError::io(tmp.path()))?;
        tmp.as_file().sync_all().map_err(StoreError::io(tmp.path()))?;
        tmp.persist(path).map_err(|e| StoreError::Io { path: path.to_path_buf(), source: e.error })?;
        std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(StoreError::io(dir))
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, StoreError> + Send + 'static) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| StoreError::Unavailable(format!("blob store task: {e}")))?
}

#[async_trait]
impl BlobStore for LocalBlobs {
    async fn put(&self, sha256: &str, bytes: bytes::Bytes) -> Result<(), StoreError> {
        let (dir, path, sha256) = (self.dir.clone(), self.path(sha256), sha256.to_string());
        blocking(move || Self::write(&dir, &path, &sha256, &bytes)).await
    }

    async fn get(&self, sha256: &str) -> Result<Vec<u8>, StoreError> {
        let (path, sha256) = (self.path(sha256), sha256.to_string());
        blocking(move || {
            let bytes = std::fs::read(&path).map_err(StoreError::io(&path))?;
            verify(&sha256, &bytes).inspect_err(|e| tracing::error!(path = %path.display(), "{e}"))?;
            Ok(bytes)
        })
        .await
    }

    async fn remove(&self, sha256: &str) -> Result<(), StoreError> {
        let path = self.path(sha256);
        self.intact.lock().expect("lock").remove(sha256);
        blocking(move || match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(StoreError::Io { path, source: e }),
            _ => Ok(()),
        })
        .await
    }

    async fn check(&self, sha256: &str) -> Result<(), StoreError> {
        let (path, sha256, intact) = (self.path(sha256), sha256.to_string(), self.intact.clone());
        blocking(move || {
            let stamp = match std::fs::metadata(&path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(StoreError::Io { path, source: e }),
                Ok(meta) => Stamp::of(&meta),
            };
            if intact.lock().expect("lock").get(&sha256) == Some(&stamp) {
                return Ok(());
            }
            let bytes = std::fs::read(&path).map_err(StoreError::io(&path))?;
            verify(&sha256, &bytes).inspect_err(|e| tracing::error!(path = %path.display(), "{e}"))?;
            intact.lock().expect("lock").insert(sha256, stamp);
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))
    }

    #[tokio::test]
    async fn blobs_are_written_once_read_back_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = LocalBlobs::open(dir.path()).unwrap();
        let name = sha(b"code");
        blobs.put(&name, bytes::Bytes::from_static(b"code")).await.unwrap();
        blobs.put(&name, bytes::Bytes::from_static(b"code")).await.unwrap();
        assert_eq!(blobs.get(&name).await.unwrap(), b"code");
        blobs.remove(&name).await.unwrap();
        blobs.remove(&name).await.unwrap();
        let missing = blobs.get(&name).await.unwrap_err().to_string();
        assert!(missing.contains(&format!("code/{name}")), "the error names the file: {missing}");
    }

    #[tokio::test]
    async fn a_swapped_blob_is_refused_and_a_new_put_repairs_it() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = LocalBlobs::open(dir.path()).unwrap();
        let name = sha(b"code");
        blobs.put(&name, bytes::Bytes::from_static(b"code")).await.unwrap();
        blobs.check(&name).await.unwrap();
        std::fs::write(dir.path().join("code").join(&name), b"other code").unwrap();
        assert!(blobs.check(&name).await.unwrap_err().is_corrupt_blob(), "a changed file is checked again");
        let refused = blobs.get(&name).await.unwrap_err();
        assert!(refused.is_corrupt_blob(), "{refused}");
        assert!(refused.to_string().contains(&sha(b"other code")), "names the hash found: {refused}");
        blobs.put(&name, bytes::Bytes::from_static(b"code")).await.unwrap();
        assert_eq!(blobs.get(&name).await.unwrap(), b"code");
    }
}
