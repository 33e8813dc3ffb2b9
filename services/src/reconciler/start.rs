//! Starting copies of a revision: resolving its image (cached per reconciler) and starting the
//! containers in parallel, each with the address the proxy and the health checks will use.

use skiff_api::ServiceConfig;
use skiff_workers::container::ImageSpec;
use skiff_workers::service::{ServiceContainerSpec, ServiceRuntime};
use skiff_workers::WorkerError;
use std::collections::HashMap;
use std::net::SocketAddr;

/// The container spec of `config`'s revision on `image`.
pub(super) fn container_spec(config: &ServiceConfig, image: ImageSpec) -> ServiceContainerSpec {
    let spec = &config.spec;
    ServiceContainerSpec {
        service: config.name.clone(),
        revision: config.revision,
        image,
        entrypoint: spec.entrypoint.clone(),
        command: spec.command.clone(),
        env: spec.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        port: spec.port,
        memory_mb: spec.memory_mb,
        nano_cpus: (spec.cpu * 1e9) as i64,
        incarnation: config.created_ms,
    }
}

/// The image of `image_id`, from `cache` or the engine.
pub(super) async fn image(runtime: &ServiceRuntime, cache: &mut HashMap<String, ImageSpec>, image_id: &str) -> Result<ImageSpec, WorkerError> {
    if let Some(image) = cache.get(image_id) {
        return Ok(image.clone());
    }
    let image = runtime.inspect_image(image_id).await?;
    cache.insert(image_id.to_string(), image.clone());
    Ok(image)
}

/// Starts `count` copies; each is its container id and address, or why it could not start.
pub(super) async fn start_copies(runtime: &ServiceRuntime, container: &ServiceContainerSpec, count: u32) -> Vec<Result<(String, SocketAddr), WorkerError>> {
    let starts = (0..count).map(|_| async move {
        let instance = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
        let id = runtime.start(container, &instance).await?;
        match runtime.address(&id, container.port).await {
            Ok(Some(addr)) => Ok((id, addr)),
            // Exited already, or the engine gave it no address: nothing to check or route to.
            other => {
                let _ = runtime.stop(&id, 0).await;
                let why = other.err().map_or("it stopped before it had an address".to_string(), |e| e.to_string());
                Err(WorkerError::Internal(why))
            }
        }
    });
    futures_util::future::join_all(starts).await
}
