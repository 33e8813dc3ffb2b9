//! The few Docker engine calls Skiff makes, over bollard, with errors turned into ours.

use crate::WorkerError;
use bollard::errors::Error as DockerError;
use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder, RemoveImageOptionsBuilder, WaitContainerOptionsBuilder,
};
use bollard::Docker;
use futures_util::StreamExt;
use std::collections::HashMap;

/// What Skiff needs of an image: its immutable id and how it wants to be started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSpec {
    /// `sha256:...`; containers are created from this, never from a tag.
    pub id: String,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
}

impl ImageSpec {
    /// The command the agent runs: ENTRYPOINT followed by CMD, as `docker run` would.
    pub fn command(&self) -> Vec<String> {
        self.entrypoint.iter().chain(&self.cmd).cloned().collect()
    }
}

pub(crate) fn internal(what: &str, e: DockerError) -> WorkerError {
    WorkerError::Internal(format!("docker {what}: {e}"))
}

pub(crate) fn not_found(e: &DockerError) -> bool {
    matches!(e, DockerError::DockerResponseServerError { status_code: 404, .. })
}

/// The engine's 409: the object is in a state that refuses the request (being removed, in use,
/// created meanwhile by someone else).
pub(crate) fn conflict(e: &DockerError) -> bool {
    matches!(e, DockerError::DockerResponseServerError { status_code: 409, .. })
}

pub(crate) async fn inspect_image(docker: &Docker, reference: &str) -> Result<ImageSpec, WorkerError> {
    let image = docker.inspect_image(reference).await.map_err(|e| match e {
        e if not_found(&e) => WorkerError::InvalidImage(format!(
            "image {reference:?} is not in the local Docker engine; build or load it first (docker build -t {reference} DIR)"
        )),
        // The engine parses the reference and refuses what is not one (too long, upper case).
        DockerError::DockerResponseServerError { status_code: 400, message } => {
            WorkerError::InvalidImage(format!("invalid image reference {reference:?}: {message}"))
        }
        e => internal("inspect image", e),
    })?;
    let config = image.config.unwrap_or_default();
    let spec = ImageSpec {
        id: image.id.ok_or_else(|| WorkerError::Internal("image without id".into()))?,
        entrypoint: config.entrypoint.unwrap_or_default(),
        cmd: config.cmd.unwrap_or_default(),
        env: config.env.unwrap_or_default(),
        working_dir: config.working_dir.filter(|d| !d.is_empty()),
        user: config.user.filter(|u| !u.is_empty()),
    };
    if spec.command().is_empty() {
        return Err(WorkerError::InvalidImage(format!("image {reference:?} has neither ENTRYPOINT nor CMD: nothing would start its runtime")));
    }
    if image.os.as_deref().is_some_and(|os| os != "linux") {
        return Err(WorkerError::InvalidImage(format!("image {reference:?} is not a Linux image")));
    }
    Ok(spec)
}

/// Creates a container, tells `created` its id (before anything in it runs), and starts it.
pub(crate) async fn create_and_start(docker: &Docker, name: &str, body: ContainerCreateBody, created_with: impl FnOnce(&str)) -> Result<String, WorkerError> {
    let options = CreateContainerOptionsBuilder::default().name(name).build();
    let created = docker.create_container(Some(options), body).await.map_err(|e| {
        if not_found(&e) {
            WorkerError::InvalidImage(format!("the function's image is gone from the Docker engine: {e}"))
        } else {
            internal("create container", e)
        }
    })?;
    created_with(&created.id);
    if let Err(e) = docker.start_container(&created.id, None).await {
        let _ = remove(docker, &created.id).await;
        return Err(internal("start container", e));
    }
    Ok(created.id)
}

/// Kills (if running) and removes a container; one that is already gone counts as removed.
pub(crate) async fn remove(docker: &Docker, id: &str) -> Result<(), WorkerError> {
    let options = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
    match docker.remove_container(id, Some(options)).await {
        Ok(()) => Ok(()),
        Err(e) if not_found(&e) => Ok(()),
        // "removal already in progress": someone else is finishing the job.
        Err(e) if conflict(&e) => Ok(()),
        Err(e) => Err(internal("remove container", e)),
    }
}

/// Removes the tag `reference`, and the image once no other tag holds it. `Ok(false)` while a
/// container still uses the image; a tag already gone counts as removed.
pub(crate) async fn remove_image(docker: &Docker, reference: &str) -> Result<bool, WorkerError> {
    let options = RemoveImageOptionsBuilder::default().force(false).build();
    match docker.remove_image(reference, Some(options), None).await {
        Ok(_) => Ok(true),
        Err(e) if not_found(&e) => Ok(true),
        Err(e) if conflict(&e) => Ok(false),
        Err(e) => Err(internal("remove image", e)),
    }
}

/// Ids of the containers labelled with `owner` and carrying the label `kind` (any value).
pub(crate) async fn list_owned(docker: &Docker, owner: &str, kind: &str) -> Result<Vec<String>, WorkerError> {
    Ok(list_labelled(docker, owner, kind).await?.into_iter().filter_map(|c| c.id).collect())
}

/// The engine's summaries (state, labels, networks) of `owner`'s containers that carry `kind`.
pub(crate) async fn list_labelled(docker: &Docker, owner: &str, kind: &str) -> Result<Vec<bollard::models::ContainerSummary>, WorkerError> {
    let labels = vec![format!("{}={owner}", super::labels::OWNER), kind.to_string()];
    let filters = HashMap::from([("label".to_string(), labels)]);
    let options = ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
    docker.list_containers(Some(options)).await.map_err(|e| internal("list containers", e))
}

/// Resolves once the container is not running (or the engine cannot tell us).
pub(crate) async fn wait_stopped(docker: &Docker, id: &str) {
    let options = WaitContainerOptionsBuilder::default().condition("not-running").build();
    let mut stream = std::pin::pin!(docker.wait_container(id, Some(options)));
    // Any answer, even an error for a non-zero exit, means the container is no longer running.
    let _ = stream.next().await;
}

/// Sets a running container's CPU limit (after its init boost).
pub(crate) async fn set_cpu(docker: &Docker, id: &str, nano_cpus: i64) -> Result<(), WorkerError> {
    let body = bollard::models::ContainerUpdateBody { nano_cpus: Some(nano_cpus), ..Default::default() };
    docker.update_container(id, body).await.map_err(|e| internal("update container", e))
}

/// How a stopped container ended, from the engine's point of view: `(exit code, OOM-killed)`.
/// Used when the agent could not report the exit itself (it was killed too).
pub(crate) async fn exit_state(docker: &Docker, id: &str) -> Option<(i64, bool)> {
    // The runtime's socket closes before the engine records the exit; until then it reports the
    // container running with exit code 0, which would pass a kill off as a clean exit.
    for _ in 0..EXIT_STATE_POLLS {
        let state = docker.inspect_container(id, None).await.ok()?.state?;
        if state.running != Some(true) {
            return Some((state.exit_code.unwrap_or(-1), state.oom_killed.unwrap_or(false)));
        }
        tokio::time::sleep(EXIT_STATE_POLL).await;
    }
    None
}

/// How long [`exit_state`] waits for the engine to record an exit: 3 s in all.
const EXIT_STATE_POLLS: u32 = 60;
const EXIT_STATE_POLL: std::time::Duration = std::time::Duration::from_millis(50);

/// The network egress functions are attached to: a bridge with inter-container traffic off, so a
/// function that may reach out cannot reach the other functions' containers.
pub(crate) const EGRESS_NETWORK: &str = "skiff-egress";

/// Creates [`EGRESS_NETWORK`] unless it exists (another server on this engine may have made it).
pub(crate) async fn ensure_egress_network(docker: &Docker) -> Result<(), WorkerError> {
    let options = HashMap::from([("com.docker.network.bridge.enable_icc".to_string(), "false".to_string())]);
    let request =
        bollard::models::NetworkCreateRequest { name: EGRESS_NETWORK.into(), driver: Some("bridge".into()), options: Some(options), ..Default::default() };
    ensure_network(docker, request).await
}

/// Creates the network `request` names unless one by that name exists, and leaves exactly one.
///
/// Servers that start at the same moment can each create it (Docker checks names only
/// best-effort), and a name that matches two networks is then refused everywhere ("ambiguous"),
/// which made every later server create yet another one until the engine ran out of address
/// pools. So every server keeps the same one — the lowest id — and removes the others (one in
/// use by a container stays, and the final inspect reports the ambiguity).
pub(crate) async fn ensure_network(docker: &Docker, request: bollard::models::NetworkCreateRequest) -> Result<(), WorkerError> {
    let name = request.name.clone();
    match docker.inspect_network(&name, None).await {
        Ok(_) => return Ok(()),
        Err(e) if not_found(&e) => match docker.create_network(request).await {
            // 409: another server created it meanwhile.
            Ok(_) => {}
            Err(e) if conflict(&e) => {}
            Err(e) => return Err(internal(&format!("create the network {name}"), e)),
        },
        Err(_) => {}
    }
    let filters = HashMap::from([("name".to_string(), vec![name.clone()])]);
    let options = bollard::query_parameters::ListNetworksOptions { filters: Some(filters) };
    let found = docker.list_networks(Some(options)).await.map_err(|e| internal("list networks", e))?;
    let mut ids: Vec<String> = found.into_iter().filter(|n| n.name.as_deref() == Some(name.as_str())).filter_map(|n| n.id).collect();
    ids.sort();
    for duplicate in ids.iter().skip(1) {
        let _ = docker.remove_network(duplicate).await;
    }
    docker.inspect_network(&name, None).await.map(drop).map_err(|e| internal(&format!("inspect the network {name}"), e))
}
