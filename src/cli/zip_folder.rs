//! A folder packed as a Lambda zip for `skiff deploy`: every regular file under it, by relative
//! path in sorted order, with one fixed timestamp, so the same files always give the same bytes
//! — and the same `CodeSha256`, which is what lets publishing an unchanged folder return the
//! version already published. Hidden entries (`.git`, `.venv`), `__pycache__` and the paths the
//! caller names (the manifest) are left out; symbolic links are refused rather than followed out
//! of the folder.

use anyhow::{bail, Context};
use std::io::Write;
use std::path::{Path, PathBuf};

/// What the server takes in one zip (Lambda's limit for a zip sent in the request).
const MAX_ZIP_BYTES: usize = skiff_api::function::MAX_ZIP_BYTES;
/// Lambda's limit on a function's unzipped code.
const MAX_UNZIPPED_BYTES: u64 = 250 << 20;

/// The zip of `dir`, without the files in `skip`.
pub fn pack(dir: &Path, skip: &[PathBuf]) -> anyhow::Result<Vec<u8>> {
    let files = files_under(dir, skip)?;
    if files.is_empty() {
        bail!("{} holds no files to deploy", dir.display());
    }
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated).last_modified_time(zip::DateTime::default());
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let mut total = 0u64;
    for relative in &files {
        let path = dir.join(relative);
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        total += bytes.len() as u64;
        if total > MAX_UNZIPPED_BYTES {
            bail!("{} holds more than {} MiB of code, more than a zip function takes", dir.display(), MAX_UNZIPPED_BYTES >> 20);
        }
        let name = relative.to_str().with_context(|| format!("{} is not a UTF-8 path", path.display()))?;
        writer.start_file(name, options.unix_permissions(mode_of(&path)?)).with_context(|| format!("zipping {name}"))?;
        writer.write_all(&bytes).with_context(|| format!("zipping {name}"))?;
    }
    let zip = writer.finish().context("finishing the zip")?.into_inner();
    if zip.len() > MAX_ZIP_BYTES {
        bail!("{} zips to {} MiB, more than the {} MiB a zip function takes", dir.display(), zip.len() >> 20, MAX_ZIP_BYTES >> 20);
    }
    Ok(zip)
}

/// 0755 for an executable file, else 0644: the rest of the mode is the packer's machine's.
fn mode_of(path: &Path) -> anyhow::Result<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?.permissions().mode();
    Ok(if mode & 0o111 != 0 { 0o755 } else { 0o644 })
}

/// The regular files under `dir`, relative to it, sorted.
fn files_under(dir: &Path, skip: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        let folder = dir.join(&relative);
        let entries = std::fs::read_dir(&folder).with_context(|| format!("reading the folder {}", folder.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("reading the folder {}", folder.display()))?;
            let name = entry.file_name();
            let path = relative.join(&name);
            if name.to_string_lossy().starts_with('.') || name == "__pycache__" || skip.iter().any(|s| s == &dir.join(&path)) {
                continue;
            }
            let kind = entry.file_type().with_context(|| format!("reading {}", entry.path().display()))?;
            if kind.is_symlink() {
                bail!("{} is a symbolic link: copy what it points to into the folder", entry.path().display());
            } else if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file() {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn names(zip: &[u8]) -> Vec<String> {
        let archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
        archive.file_names().map(str::to_string).collect::<Vec<_>>()
    }

    #[test]
    fn the_same_files_give_the_same_bytes_without_hidden_files_or_the_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let write = |path: &str, text: &str| {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write("app.py", "def handler(e, c): return e");
        write("lib/util.py", "X = 1");
        write(".git/HEAD", "ref");
        write("__pycache__/app.cpython-311.pyc", "");
        write("skiff.toml", "name = 'x'");
        let skip = [dir.path().join("skiff.toml")];
        let first = pack(dir.path(), &skip).unwrap();
        let mut listed = names(&first);
        listed.sort();
        assert_eq!(listed, ["app.py", "lib/util.py"]);
        std::thread::sleep(std::time::Duration::from_millis(20));
        write("app.py", "def handler(e, c): return e");
        assert_eq!(pack(dir.path(), &skip).unwrap(), first, "rewriting a file with the same text changes nothing");
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(first)).unwrap();
        let mut text = String::new();
        archive.by_name("lib/util.py").unwrap().read_to_string(&mut text).unwrap();
        assert_eq!(text, "X = 1");
    }

    #[test]
    fn links_empty_folders_and_missing_folders_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(pack(dir.path(), &[]).unwrap_err().to_string().contains("no files"));
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("passwd")).unwrap();
        assert!(pack(dir.path(), &[]).unwrap_err().to_string().contains("symbolic link"));
        assert!(pack(&dir.path().join("nope"), &[]).unwrap_err().to_string().contains("reading the folder"));
    }
}
