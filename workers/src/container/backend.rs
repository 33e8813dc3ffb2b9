//! The connection to the Docker engine and what every container of this server shares.

use super::budget::{BudgetLimits, HostBudget};
use super::docker::{self, ImageSpec};
use super::labels;
use crate::WorkerError;
use bollard::Docker;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct BackendOptions {
    /// The static `skiff-agent` binary, bind-mounted into every container.
    pub agent: PathBuf,
    /// Where the per-container Runtime API sockets are created.
    pub run_dir: PathBuf,
    /// This server's identity (stable per data dir); labels its containers.
    pub owner: String,
    /// `AWS_REGION` as functions see it; also part of the function ARN.
    pub region: String,
    /// How long a runtime may take from container start to its first `/invocation/next`.
    pub init_timeout: Duration,
    /// What all function containers together may reserve (memory and pids).
    pub budget: BudgetLimits,
}

/// Cheap to clone: one Docker client and one set of options for the whole server.
#[derive(Clone)]
pub struct ContainerBackend {
    pub(crate) inner: Arc<BackendInner>,
}

pub(crate) struct BackendInner {
    pub(crate) docker: Docker,
    pub(crate) options: BackendOptions,
    pub(crate) budget: Arc<HostBudget>,
}

/// Unix socket paths are limited to 108 bytes; keep ours well inside.
const MAX_SOCKET_DIR_LEN: usize = 60;

impl ContainerBackend {
    /// Connects to the engine (`DOCKER_HOST` or the default socket), agrees on an API version,
    /// checks the agent, and removes containers an earlier run of this server left behind.
    pub async fn connect(mut options: BackendOptions) -> Result<Self, WorkerError> {
        check_agent(&options.agent)?;
        let docker = Docker::connect_with_defaults()
            .map_err(|e| WorkerError::Unavailable(format!("cannot connect to Docker: {e}")))?
            .negotiate_version()
            .await
            .map_err(|e| WorkerError::Unavailable(format!("Docker engine not reachable: {e}")))?;
        if options.run_dir.as_os_str().len() > MAX_SOCKET_DIR_LEN {
            options.run_dir = std::env::temp_dir().join(format!("skiff-{}", &options.owner[..12.min(options.owner.len())]));
        }
        let _ = std::fs::remove_dir_all(&options.run_dir);
        create_private_dir(&options.run_dir).map_err(|e| WorkerError::Internal(format!("run dir {}: {e}", options.run_dir.display())))?;
        // The engine takes bind-mount sources only as absolute paths (a relative one would name a
        // volume), and a relative --data-dir or --agent is the common case.
        let absolute = |p: &Path| std::path::absolute(p).map_err(|e| WorkerError::Internal(format!("{}: {e}", p.display())));
        options.run_dir = absolute(&options.run_dir)?;
        options.agent = absolute(&options.agent)?;
        docker::ensure_egress_network(&docker).await?;
        let budget = HostBudget::new(options.budget);
        let backend = Self { inner: Arc::new(BackendInner { docker, options, budget }) };
        let removed = backend.remove_all().await?;
        if removed > 0 {
            tracing::info!(removed, "removed containers left by an earlier run");
        }
        Ok(backend)
    }

    pub fn options(&self) -> &BackendOptions {
        &self.inner.options
    }

    /// The host budget every function container of this server reserves its caps from.
    pub fn budget(&self) -> &Arc<HostBudget> {
        &self.inner.budget
    }

    /// Resolves an image in the local engine. Functions run the image's id, not its tag, so a
    /// later re-tag never changes a deployed version.
    pub async fn inspect_image(&self, reference: &str) -> Result<ImageSpec, WorkerError> {
        docker::inspect_image(&self.inner.docker, reference).await
    }

    /// Resolves a function's image: `id` (when given: the image deployed) from the local engine;
    /// failing that, when `reference` is a registry digest, pulls it — a node of a cluster gets
    /// the images deployed on another node this way — and checks it is the image deployed.
    pub async fn resolve_image(&self, reference: &str, id: Option<&str>) -> Result<ImageSpec, WorkerError> {
        let docker = &self.inner.docker;
        match docker::inspect_image(docker, id.unwrap_or(reference)).await {
            Err(WorkerError::InvalidImage(_)) if super::registry::is_pullable(reference) => {
                super::registry::ensure_pulled(docker, reference).await?;
                let image = docker::inspect_image(docker, reference).await?;
                match id {
                    Some(id) if id != image.id => Err(WorkerError::InvalidImage(format!("{reference} is now image {}, not the deployed {id}", image.id))),
                    _ => Ok(image),
                }
            }
            found => found,
        }
    }

    /// Builds a zip function's image (its runtime's image with the code in `/var/task`) as
    /// `tag`, and resolves it.
    pub async fn build_zip_image(&self, code: &super::ZipCode<'_>, tag: &str) -> Result<ImageSpec, WorkerError> {
        let id = super::zip_image::build(&self.inner.docker, code, tag).await?;
        docker::inspect_image(&self.inner.docker, &id).await
    }

    /// Removes the image tagged `reference` in the background once no container uses it: a
    /// retired function's containers finish their calls first, so a refusal is retried for up
    /// to [`IMAGE_REMOVAL_PATIENCE`]. `unwanted` is asked before every attempt, so an image
    /// wanted again meanwhile (the same code deployed anew) is kept.
    pub fn remove_image_when_unused(&self, reference: String, unwanted: impl Fn() -> bool + Send + 'static) {
        let docker = self.inner.docker.clone();
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + IMAGE_REMOVAL_PATIENCE;
            loop {
                if !unwanted() {
                    return;
                }
                match docker::remove_image(&docker, &reference).await {
                    Ok(true) => return tracing::info!(image = %reference, "removed an image no function uses"),
                    Ok(false) if tokio::time::Instant::now() < deadline => tokio::time::sleep(IMAGE_REMOVAL_RETRY).await,
                    Ok(false) => return tracing::warn!(image = %reference, "image still in use; left in the engine"),
                    Err(e) => return tracing::warn!(image = %reference, "cannot remove an image no function uses: {e}"),
                }
            }
        });
    }

    /// Removes every function container of this server, running or not. Used at start-up (a
    /// crashed earlier run) and at shutdown. Service containers are not touched: they outlive
    /// the server and are adopted by the next one.
    ///
    /// Sweeps until a pass finds nothing: a container whose create call was in flight during a
    /// pass (a provisioned or cold start racing the shutdown) appears only after that pass listed.
    pub async fn remove_all(&self) -> Result<usize, WorkerError> {
        let mut count = 0;
        for pass in 0..8 {
            if pass > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
            let ids = docker::list_owned(&self.inner.docker, &self.inner.options.owner, labels::FUNCTION).await?;
            if ids.is_empty() {
                break;
            }
            count += ids.len();
            let removals = ids.into_iter().map(|id| {
                let docker = self.inner.docker.clone();
                async move { docker::remove(&docker, &id).await }
            });
            for result in futures_util::future::join_all(removals).await {
                result?;
            }
        }
        Ok(count)
    }
}

/// How long an unused image's removal waits for the containers still using it, and how often
/// it asks again.
pub const IMAGE_REMOVAL_PATIENCE: std::time::Duration = std::time::Duration::from_secs(120);
const IMAGE_REMOVAL_RETRY: std::time::Duration = std::time::Duration::from_secs(2);

/// Where the static agent is expected relative to a Skiff executable (the server or the bench):
/// `skiff-agent-static` beside it in an installed layout, else
/// `../<arch>-unknown-linux-gnu/release/skiff-agent`, where scripts/build-functions.sh builds it.
/// Returns the first that exists, or the build location so an error can name it.
pub fn agent_near(exe: &Path) -> PathBuf {
    let dir = exe.parent().unwrap_or(Path::new("."));
    let beside = dir.join("skiff-agent-static");
    if beside.exists() {
        return beside;
    }
    let triple = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
    let built = dir.join("..").join(triple).join("release").join("skiff-agent");
    built.canonicalize().unwrap_or(built)
}

/// The agent runs inside images built `FROM scratch`, with no dynamic loader: it must be a static
/// executable. An ELF with a `PT_INTERP` program header needs a loader, so refuse it up front
/// rather than let every container die with a puzzling "no such file or directory".
fn check_agent(path: &Path) -> Result<(), WorkerError> {
    let bytes = std::fs::read(path).map_err(|e| {
        WorkerError::Unavailable(format!("skiff-agent not found at {} ({e}); build it with scripts/build-functions.sh or pass --agent", path.display()))
    })?;
    let field = |at: usize, len: usize| -> Option<u64> {
        let b = bytes.get(at..at + len)?;
        Some(b.iter().rev().fold(0u64, |acc, &x| (acc << 8) | x as u64))
    };
    let elf64 = bytes.starts_with(b"\x7fELF\x02\x01");
    let (Some(phoff), Some(phentsize), Some(phnum)) = (field(0x20, 8), field(0x36, 2), field(0x38, 2)) else {
        return Err(WorkerError::Unavailable(format!("{} is not an executable", path.display())));
    };
    if !elf64 {
        return Err(WorkerError::Unavailable(format!("{} is not a 64-bit ELF executable", path.display())));
    }
    const PT_INTERP: u64 = 3;
    let dynamic = (0..phnum).any(|i| field((phoff + i * phentsize) as usize, 4) == Some(PT_INTERP));
    if dynamic {
        return Err(WorkerError::Unavailable(format!(
            "{} is dynamically linked; container images may have no loader, so it must be static (scripts/build-functions.sh builds it so)",
            path.display()
        )));
    }
    Ok(())
}

/// The run directory holds the containers' Runtime API sockets: only the server may enter it.
fn create_private_dir(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
}
