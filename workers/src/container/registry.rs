//! Images through an OCI registry the cluster shares (like ECR): the CLI pushes what it built
//! and deploys it by digest (`HOST/REPO@sha256:...`); a node whose engine lacks the image pulls
//! exactly that digest, so every node runs the same bytes.

use crate::container::docker::{internal, not_found};
use crate::WorkerError;
use bollard::query_parameters::{CreateImageOptionsBuilder, PushImageOptionsBuilder, TagImageOptionsBuilder};
use bollard::Docker;
use futures_util::StreamExt;

/// Whether `reference` names an image by registry digest (`host[:port]/repo@sha256:...`): the
/// only kind a node pulls, since only a digest pins the content.
pub fn is_pullable(reference: &str) -> bool {
    match reference.split_once("@sha256:") {
        Some((name, digest)) => name.contains('/') && digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()),
        None => false,
    }
}

/// Tags `image` as `registry/repo:latest`, pushes it, and returns its digest reference.
pub async fn push_image(image: &str, registry: &str, repo: &str) -> Result<String, WorkerError> {
    let docker = connect().await?;
    let target = format!("{}/{repo}", registry.trim_end_matches('/'));
    let tag = TagImageOptionsBuilder::default().repo(&target).tag("latest").build();
    docker.tag_image(image, Some(tag)).await.map_err(|e| internal("tag image", e))?;
    let mut stream = docker.push_image(&target, Some(PushImageOptionsBuilder::default().tag("latest").build()), None);
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| WorkerError::Unavailable(format!("pushing {target}: {e}")))?;
        if let Some(error) = info.error_detail.and_then(|d| d.message) {
            return Err(WorkerError::Unavailable(format!("pushing {target}: {error}")));
        }
    }
    let pushed = docker.inspect_image(&target).await.map_err(|e| internal("inspect pushed image", e))?;
    pushed
        .repo_digests
        .unwrap_or_default()
        .into_iter()
        .find(|d| d.starts_with(&format!("{target}@")))
        .ok_or_else(|| WorkerError::Internal(format!("{target} has no digest after its push")))
}

/// Pulls `reference` (a digest reference) into the engine unless it is there already.
pub(crate) async fn ensure_pulled(docker: &Docker, reference: &str) -> Result<(), WorkerError> {
    match docker.inspect_image(reference).await {
        Ok(_) => return Ok(()),
        Err(e) if !not_found(&e) => return Err(internal("inspect image", e)),
        Err(_) => {}
    }
    tracing::info!(image = reference, "pulling from the registry");
    let options = CreateImageOptionsBuilder::default().from_image(reference).build();
    let mut stream = docker.create_image(Some(options), None, None);
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| WorkerError::InvalidImage(format!("pulling {reference}: {e}")))?;
        if let Some(error) = info.error_detail.and_then(|d| d.message) {
            return Err(WorkerError::InvalidImage(format!("pulling {reference}: {error}")));
        }
    }
    Ok(())
}

async fn connect() -> Result<Docker, WorkerError> {
    Docker::connect_with_defaults()
        .map_err(|e| WorkerError::Unavailable(format!("cannot connect to Docker: {e}")))?
        .negotiate_version()
        .await
        .map_err(|e| WorkerError::Unavailable(format!("Docker engine not reachable: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_registry_digest_references_are_pulled() {
        let digest = "a".repeat(64);
        assert!(is_pullable(&format!("127.0.0.1:5000/fn@sha256:{digest}")));
        assert!(!is_pullable(&format!("fn@sha256:{digest}")), "no registry host");
        assert!(!is_pullable("127.0.0.1:5000/fn:latest"), "a tag can change");
        assert!(!is_pullable(&format!("sha256:{digest}")), "an image id is local to an engine");
        assert!(!is_pullable("127.0.0.1:5000/fn@sha256:zz"));
    }
}
