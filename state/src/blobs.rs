//! The blob store port: code kept by its SHA-256, written once, read by whoever runs it. The
//! single-node adapter keeps files under `<data>/code/`; a cluster adapter also fetches from a
//! peer that holds the blob (and checks the hash).
//!
//! Invariant (kept by the deployer): a definition is committed only after its blob is durable,
//! so every stored definition can be served after a crash; a blob no definition refers to is
//! garbage, removed when the last reference goes.

use crate::StoreError;
use async_trait::async_trait;
use std::io::Write;
use std::path::{Path, PathBuf};

#[async_trait]
pub trait BlobStore: Send + Sync {
    /// Stores `bytes` under `sha256` durably, unless it is already there.
    async fn put(&self, sha256: &str, bytes: bytes::Bytes) -> Result<(), StoreError>;
    async fn get(&self, sha256: &str) -> Result<Vec<u8>, StoreError>;
    /// Removes the blob; removing one that is not there is not an error.
    async fn remove(&self, sha256: &str) -> Result<(), StoreError>;
}

pub struct LocalBlobs {
    dir: PathBuf,
}

impl LocalBlobs {
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let dir = data_dir.join("code");
        std::fs::create_dir_all(&dir).map_err(StoreError::io(&dir))?;
        Ok(Self { dir })
    }

    fn path(&self, sha256: &str) -> PathBuf {
        self.dir.join(sha256)
    }

    /// Temp file, fsync, rename, fsync the directory: the blob is whole or absent.
    fn write(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
        if path.exists() {
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
        let (dir, path) = (self.dir.clone(), self.path(sha256));
        blocking(move || Self::write(&dir, &path, &bytes)).await
    }

    async fn get(&self, sha256: &str) -> Result<Vec<u8>, StoreError> {
        let path = self.path(sha256);
        blocking(move || std::fs::read(&path).map_err(StoreError::io(&path))).await
    }

    async fn remove(&self, sha256: &str) -> Result<(), StoreError> {
        let path = self.path(sha256);
        blocking(move || match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(StoreError::Io { path, source: e }),
            _ => Ok(()),
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn blobs_are_written_once_read_back_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = LocalBlobs::open(dir.path()).unwrap();
        blobs.put("abc", bytes::Bytes::from_static(b"code")).await.unwrap();
        blobs.put("abc", bytes::Bytes::from_static(b"other")).await.unwrap();
        assert_eq!(blobs.get("abc").await.unwrap(), b"code");
        blobs.remove("abc").await.unwrap();
        blobs.remove("abc").await.unwrap();
        let missing = blobs.get("abc").await.unwrap_err().to_string();
        assert!(missing.contains("code/abc"), "the error names the file: {missing}");
    }
}
