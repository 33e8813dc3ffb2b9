//! A BLAKE3 sum kept beside each compiled artifact (`<artifact>.blake3`). An artifact is native
//! code that is mapped and jumped into: a damaged one would not fail cleanly but crash the
//! whole server, on every call and after every restart. So an artifact is mapped only when its
//! bytes hash to the sum written with it; anything else is a cache miss and the code is
//! compiled again from its (hash-checked) blob.
//!
//! Hashing a whole artifact (tens of MB for a Python component) on the first call after every
//! restart costs tens of milliseconds, so the sum file also records the artifact's stamp
//! (inode, size, change time) as of the last full check. While the stamp is unchanged, no
//! write, truncation, rename or copy has touched the file since its bytes were checked — the
//! change time cannot be set back by hand — and the hash is not computed again. A file the
//! stamp does not match (modified, or restored from a backup) is hashed in full, and trusted
//! with a fresh stamp only if it still hashes to its sum. Damage below the file system (bit
//! rot) is left to the disk's own checks.

use std::io::Write;
use std::os::unix::fs::MetadataExt;
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

/// What changes whenever a file's content does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    inode: u64,
    size: u64,
    changed: (i64, i64),
}

impl Stamp {
    fn of(path: &Path) -> std::io::Result<Self> {
        let meta = std::fs::metadata(path)?;
        Ok(Self { inode: meta.ino(), size: meta.size(), changed: (meta.ctime(), meta.ctime_nsec()) })
    }

    fn render(&self) -> String {
        format!("{} {} {} {}", self.inode, self.size, self.changed.0, self.changed.1)
    }

    fn parse(fields: &[&str]) -> Option<Self> {
        let [inode, size, secs, nanos] = fields else { return None };
        Some(Self { inode: inode.parse().ok()?, size: size.parse().ok()?, changed: (secs.parse().ok()?, nanos.parse().ok()?) })
    }
}

pub(crate) fn sum_path(artifact: &Path) -> PathBuf {
    let mut name = artifact.as_os_str().to_owned();
    name.push(".blake3");
    PathBuf::from(name)
}

/// Writes the sum of `artifact` (the bytes now at `path`) and the file's stamp, atomically and
/// durably.
pub(crate) fn write(path: &Path, artifact: &[u8]) -> std::io::Result<()> {
    record(path, &blake3::hash(artifact).to_hex())
}

fn record(path: &Path, sum: &str) -> std::io::Result<()> {
    let target = sum_path(path);
    let dir = target.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    writeln!(tmp, "{sum} {}", Stamp::of(path)?.render())?;
    tmp.as_file().sync_all()?;
    tmp.persist(&target).map_err(|e| e.error)?;
    Ok(())
}

/// Checks the artifact at `path` against its sum (see the module's doc for when it is hashed).
pub(crate) fn verify(path: &Path) -> Result<(), Untrusted> {
    let recorded = std::fs::read_to_string(sum_path(path)).map_err(Untrusted::NoSum)?;
    let fields: Vec<&str> = recorded.split_whitespace().collect();
    let expected = fields.first().copied().unwrap_or_default();
    let stamp = Stamp::of(path).map_err(Untrusted::Unreadable)?;
    if fields.get(1..).and_then(Stamp::parse) == Some(stamp) {
        return Ok(());
    }
    let bytes = std::fs::read(path).map_err(Untrusted::Unreadable)?;
    let actual = blake3::hash(&bytes).to_hex();
    if actual.as_str() != expected {
        return Err(Untrusted::Mismatch { expected: expected.to_string(), actual: actual.to_string() });
    }
    if let Err(e) = record(path, expected) {
        tracing::warn!(path = %path.display(), "cannot record a checked artifact's stamp: {e}");
    }
    Ok(())
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
        // Another length: the change is seen even where change times are coarse.
        std::fs::write(&path, b"machine code!").unwrap();
        assert!(matches!(verify(&path), Err(Untrusted::Mismatch { .. })));
    }

    #[test]
    fn a_copy_with_the_same_bytes_is_hashed_once_then_trusted_by_its_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.cwasm");
        std::fs::write(&path, b"machine code").unwrap();
        write(&path, b"machine code").unwrap();
        let copy = dir.path().join("copy");
        std::fs::copy(&path, &copy).unwrap();
        std::fs::rename(&copy, &path).unwrap(); // a restore: same bytes, another inode
        let before = std::fs::read_to_string(sum_path(&path)).unwrap();
        verify(&path).unwrap();
        let after = std::fs::read_to_string(sum_path(&path)).unwrap();
        assert_ne!(before, after, "the stamp is renewed after a full check");
        assert_eq!(before.split_whitespace().next(), after.split_whitespace().next());
        verify(&path).unwrap();
    }
}
