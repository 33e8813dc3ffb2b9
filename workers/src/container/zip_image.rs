//! A zip function's image: its runtime's image (`skiff-runtime/<runtime>`, built from the
//! repo's `runtimes/<runtime>` folder) with the zip's files in `/var/task` and the handler as
//! the command the runtime client receives. Built in the local engine at deploy time, so a zip
//! function then runs like any container function (its limits, warm pool and logs).

use super::build::build_context;
use crate::WorkerError;
use bollard::Docker;
use std::io::Read;

/// Lambda's limit on a function's unzipped code.
const MAX_UNZIPPED: u64 = 250 * 1024 * 1024;

/// What a zip function is made of.
pub struct ZipCode<'a> {
    pub runtime: &'a str,
    /// `module.function` (checked by the caller: it goes into the Dockerfile as it is).
    pub handler: &'a str,
    pub zip: &'a [u8],
}

/// The image a runtime's zip functions derive from.
pub fn runtime_image(runtime: &str) -> String {
    format!("skiff-runtime/{runtime}:latest")
}

/// Builds `code` as `tag` in `docker`; returns the image id.
pub(crate) async fn build(docker: &Docker, code: &ZipCode<'_>, tag: &str) -> Result<String, WorkerError> {
    let base = runtime_image(code.runtime);
    if docker.inspect_image(&base).await.is_err() {
        return Err(WorkerError::InvalidImage(format!(
            "Runtime {} is not installed on this server: no image {base} (runtimes/{} is built by scripts/build-functions.sh)",
            code.runtime, code.runtime
        )));
    }
    let context = pack(code, &base).map_err(WorkerError::InvalidImage)?;
    build_context(docker, context, tag, |_| {}).await
}

/// The build context: a Dockerfile and the zip's files under `task/`. Entries that would land
/// outside `/var/task` (absolute paths, `..`) are refused.
fn pack(code: &ZipCode<'_>, base: &str) -> Result<Vec<u8>, String> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(code.zip)).map_err(|e| format!("Code.ZipFile is not a zip archive: {e}"))?;
    let mut context = tar::Builder::new(Vec::new());
    context.mode(tar::HeaderMode::Deterministic);
    let dockerfile = format!("FROM {base}\nCOPY task/ /var/task/\nENV _HANDLER={handler}\nCMD [\"{handler}\"]\n", handler = code.handler);
    append(&mut context, "Dockerfile", dockerfile.as_bytes(), 0o644)?;
    append(&mut context, "task/", &[], 0o755)?;
    let mut unzipped = 0u64;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|e| format!("Code.ZipFile entry {i}: {e}"))?;
        let path = entry.enclosed_name().ok_or_else(|| format!("Code.ZipFile entry {:?} points outside the code folder", entry.name()))?;
        if entry.is_dir() {
            continue;
        }
        unzipped += entry.size();
        if unzipped > MAX_UNZIPPED {
            return Err(format!("Code.ZipFile unzips to more than {MAX_UNZIPPED} bytes"));
        }
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        entry.read_to_end(&mut bytes).map_err(|e| format!("Code.ZipFile entry {:?}: {e}", entry.name()))?;
        let executable = entry.unix_mode().is_some_and(|m| m & 0o111 != 0);
        append(&mut context, &format!("task/{}", path.display()), &bytes, if executable { 0o755 } else { 0o644 })?;
    }
    context.into_inner().map_err(|e| e.to_string())
}

fn append(context: &mut tar::Builder<Vec<u8>>, path: &str, bytes: &[u8], mode: u32) -> Result<(), String> {
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(mode);
    header.set_entry_type(if path.ends_with('/') { tar::EntryType::Directory } else { tar::EntryType::Regular });
    context.append_data(&mut header, path, bytes).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zip_of(files: &[(&str, &str)]) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, text) in files {
            writer.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
            writer.write_all(text.as_bytes()).unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    fn entries(tarball: &[u8]) -> Vec<String> {
        let mut archive = tar::Archive::new(tarball);
        archive.entries().unwrap().map(|e| e.unwrap().path().unwrap().display().to_string()).collect()
    }

    #[test]
    fn the_context_holds_the_dockerfile_and_the_code_under_task() {
        let zip = zip_of(&[("app.py", "def handler(e, c): return e"), ("lib/util.py", "")]);
        let context = pack(&ZipCode { runtime: "python3.11", handler: "app.handler", zip: &zip }, "skiff-runtime/python3.11:latest").unwrap();
        assert_eq!(entries(&context), ["Dockerfile", "task/", "task/app.py", "task/lib/util.py"]);
        let mut archive = tar::Archive::new(context.as_slice());
        let mut dockerfile = String::new();
        archive.entries().unwrap().next().unwrap().unwrap().read_to_string(&mut dockerfile).unwrap();
        assert!(dockerfile.contains("ENV _HANDLER=app.handler") && dockerfile.contains(r#"CMD ["app.handler"]"#), "{dockerfile}");
    }

    #[test]
    fn escaping_entries_and_non_zips_are_refused() {
        let escaping = zip_of(&[("../etc/passwd", "x")]);
        assert!(pack(&ZipCode { runtime: "p", handler: "a.b", zip: &escaping }, "b").unwrap_err().contains("outside"));
        assert!(pack(&ZipCode { runtime: "p", handler: "a.b", zip: b"not a zip" }, "b").unwrap_err().contains("not a zip"));
    }
}
