//! Zip functions' images in this node's engine. A zip function runs as an image derived from its
//! runtime's with the zip in `/var/task`, tagged by what it is made of
//! (`skiff-zip/NAME:VARIANT`, the variant hashing the zip, the runtime and the handler), so any
//! node can build the same thing again from the stored zip. Each node keeps its own copy: the
//! deploying node builds it at deploy, another node (or one whose engine lost it) at its first
//! call, and each removes its copy once no function or published version refers to the tag.

use super::WorkerBuilder;
use crate::error::InvokerError;
use crate::registry::Registry;
use sha2::{Digest, Sha256};
use skiff_api::{CodeInfo, FunctionConfig, ZipInfo};
use skiff_workers::container::{ImageSpec, ZipCode};
use skiff_workers::WorkerError;
use std::sync::Arc;

/// The image tag of function `name` made of `zip`.
pub(crate) fn zip_image_tag(name: &str, zip: &ZipInfo) -> String {
    let variant = hex::encode(&Sha256::digest(format!("{}\0{}\0{}", zip.sha256, zip.runtime, zip.handler))[..6]);
    format!("skiff-zip/{}:{variant}", name.to_ascii_lowercase())
}

impl WorkerBuilder {
    /// Builds function `name`'s image from `zip` (its bytes, or the stored blob when `None`).
    pub(crate) async fn build_zip_image(&self, name: &str, zip: &ZipInfo, bytes: Option<bytes::Bytes>) -> Result<(CodeInfo, ImageSpec), InvokerError> {
        let bytes = match bytes {
            Some(sent) => sent,
            None => bytes::Bytes::from(self.blobs.get(&zip.sha256).await?),
        };
        let tag = zip_image_tag(name, zip);
        let code = ZipCode { runtime: &zip.runtime, handler: &zip.handler, zip: &bytes };
        let image = self.containers()?.build_zip_image(&code, &tag).await.map_err(InvokerError::from_code)?;
        Ok((CodeInfo::Image { image: tag, id: image.id.clone() }, image))
    }

    /// The image of zip function `config` in this node's engine: the one deployed, this node's
    /// own build of the same tag, or a build made now from the stored zip; with the code the
    /// config names it as here (its tag and this engine's id).
    pub(crate) async fn zip_image(&self, config: &FunctionConfig, zip: &ZipInfo) -> Result<(CodeInfo, ImageSpec), InvokerError> {
        let CodeInfo::Image { image: tag, id } = &config.code else {
            return Err(InvokerError::Worker(WorkerError::Internal("a zip function without an image".into())));
        };
        let containers = self.containers()?;
        for id in [Some(id.as_str()), None] {
            match containers.resolve_image(tag, id).await {
                Ok(image) => return Ok((CodeInfo::Image { image: tag.clone(), id: image.id.clone() }, image)),
                Err(WorkerError::InvalidImage(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        tracing::info!(function = %config.name, image = %tag, "zip image not in this engine; building it from the stored zip");
        self.build_zip_image(&config.name, zip, None).await
    }

    /// Lets this engine's copy of `tag` go once the containers still using it are gone, unless
    /// `registry` has a function or version that runs it again by then.
    pub(crate) fn release_zip_image(&self, tag: &str, registry: &Arc<Registry>) {
        if registry.runs_image(tag) {
            return;
        }
        if let Ok(containers) = self.containers() {
            let (registry, wanted) = (registry.clone(), tag.to_string());
            containers.remove_image_when_unused(tag.to_string(), move || !registry.runs_image(&wanted));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tag_names_the_function_and_changes_with_what_the_image_is_made_of() {
        let zip = ZipInfo { sha256: "00".repeat(32), size: 9, runtime: "python3.11".into(), handler: "app.handler".into() };
        let tag = zip_image_tag("PyZip", &zip);
        assert!(tag.starts_with("skiff-zip/pyzip:") && tag.len() == "skiff-zip/pyzip:".len() + 12, "{tag}");
        assert_eq!(tag, zip_image_tag("PyZip", &zip.clone()), "the same code gives the same tag on every node");
        assert_ne!(tag, zip_image_tag("PyZip", &ZipInfo { handler: "app.other".into(), ..zip.clone() }));
        assert_ne!(tag, zip_image_tag("PyZip", &ZipInfo { sha256: "11".repeat(32), ..zip }));
    }
}
