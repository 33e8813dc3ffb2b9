//! A SHA-256 kept beside each compiled artifact (`<artifact>.sha256`). An artifact is native
//! code that is mapped and jumped into: a damaged one would not fail cleanly but crash the
//! whole server, on every call and after every restart. So an artifact is mapped only when its
//! bytes hash to the sum written with it; anything else is a cache miss and the code is
//! compiled again from its (hash-checked) blob.

use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Why an artifact is not trusted.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Untrusted {
    #[error("no checksum beside it ({0})")]
    NoSum(std::io::Error),
    #[error("reading it: {0}")]
    Unreadable(std::io::Error),
    #[error("its content hashes to {actual}, not the {expected} written with it")]
    Mismatch { expected: String, actual: String },
}

pub(crate) fn sum_path(artifact: &Path) -> PathBuf {
    let mut name = artifact.as_os_str().to_owned();
    name.push(".sha256");
    PathBuf::from(name)
}

/// Writes the sum of `artifact` (the bytes just written to `path`) atomically and durably.
pub(crate) fn write(path: &Path, artifact: &[u8]) -> std::io::Result<()> {
    let target = sum_path(path);
    let dir = target.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(hex::encode(Sha256::digest(artifact)).as_bytes())?;
    tmp.as_file().sync_all()?;
    tmp.persist(&target).map_err(|e| e.error)?;
    Ok(())
}

/// Checks the artifact at `path` against its sum.
pub(crate) fn verify(path: &Path) -> Result<(), Untrusted> {
    let expected = std::fs::read_to_string(sum_path(path)).map_err(Untrusted::NoSum)?;
    let bytes = std::fs::read(path).map_err(Untrusted::Unreadable)?;
    let actual = hex::encode(Sha256::digest(&bytes));
    if actual == expected.trim() {
        return Ok(());
    }
    Err(Untrusted::Mismatch { expected: expected.trim().to_string(), actual })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_artifact_is_trusted_only_with_a_matching_sum() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.cwasm");
        std::fs::write(&path, b"machine code").unwrap();
        assert!(matches!(verify(&path), Err(Untrusted::NoSum(_))));
        write(&path, b"machine code").unwrap();
        verify(&path).unwrap();
        std::fs::write(&path, b"machine cod3").unwrap();
        assert!(matches!(verify(&path), Err(Untrusted::Mismatch { .. })));
    }
}
