//! Building a function's image from a folder with a Dockerfile, through the engine's build API
//! (the classic builder, which every engine has; no registry is needed for `FROM scratch`).

use crate::WorkerError;
use bollard::query_parameters::BuildImageOptionsBuilder;
use bollard::Docker;
use futures_util::StreamExt;
use std::path::Path;

/// Folders never sent to the engine: build outputs and VCS data can be huge and are not inputs.
const SKIPPED: [&str; 3] = ["target", ".git", "node_modules"];

/// Builds `context` (which must hold a `Dockerfile`) as `tag`, calling `progress` with each line
/// of build output. Returns the image id.
pub async fn build_image(context: &Path, tag: &str, progress: impl FnMut(&str)) -> Result<String, WorkerError> {
    if !context.join("Dockerfile").is_file() {
        return Err(WorkerError::InvalidImage(format!("no Dockerfile in {}", context.display())));
    }
    let tarball = pack(context).map_err(|e| WorkerError::InvalidImage(format!("packing {}: {e}", context.display())))?;
    let docker = Docker::connect_with_defaults()
        .map_err(|e| WorkerError::Unavailable(format!("cannot connect to Docker: {e}")))?
        .negotiate_version()
        .await
        .map_err(|e| WorkerError::Unavailable(format!("Docker engine not reachable: {e}")))?;
    build_context(&docker, tarball, tag, progress).await
}

/// Builds a build context already packed as a tar (holding a `Dockerfile`) as `tag`; returns
/// the image id.
pub(crate) async fn build_context(docker: &Docker, tarball: Vec<u8>, tag: &str, mut progress: impl FnMut(&str)) -> Result<String, WorkerError> {
    let options = BuildImageOptionsBuilder::default().dockerfile("Dockerfile").t(tag).rm(true).forcerm(true).build();
    let mut stream = docker.build_image(options, None, Some(bollard::body_full(tarball.into())));
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| WorkerError::InvalidImage(format!("image build failed: {e}")))?;
        if let Some(error) = info.error_detail.and_then(|d| d.message) {
            return Err(WorkerError::InvalidImage(format!("image build failed: {error}")));
        }
        if let Some(line) = info.stream.as_deref().map(str::trim_end).filter(|l| !l.is_empty()) {
            progress(line);
        }
    }
    let image = docker.inspect_image(tag).await.map_err(|e| WorkerError::Internal(format!("built image {tag} not found: {e}")))?;
    image.id.ok_or_else(|| WorkerError::Internal("image without id".into()))
}

fn pack(context: &Path) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    // The engine's tar reader rejects GNU sparse entries (type 'S'), which freshly linked
    // binaries often are; and build caching should not depend on file owners or times.
    builder.sparse(false);
    builder.mode(tar::HeaderMode::Deterministic);
    for entry in std::fs::read_dir(context)? {
        let entry = entry?;
        let name = entry.file_name();
        if SKIPPED.iter().any(|s| name == *s) {
            continue;
        }
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            builder.append_dir_all(&name, &path)?;
        } else {
            builder.append_path_with_name(&path, &name)?;
        }
    }
    builder.into_inner()
}
