//! The control plane of functions: deploying, updating and deleting. A change is validated and
//! its code compiled (or its image resolved) before anything is stored; the code blob is durable
//! before the config that names it; the config is written with compare-and-swap on the revision
//! it replaces; and the call returns once this node's registry serves it (the feed applied it).

mod aliases;
mod merge;
mod versions;

pub use versions::PublishRequest;

use crate::builder::{execution_spec, zip_image_tag, WorkerBuilder};
use crate::error::{blocking, InvokerError};
use crate::registry::{Deployed, Registry};
use sha2::{Digest, Sha256};
use skiff_api::function::WasmFormat;
use skiff_api::{now_ms, Alias, CodeInfo, DeployMode, DeployRequest, FunctionConfig, TriggerConfig, ZipInfo};
use skiff_state::blobs::BlobStore;
use skiff_state::config::{Expect, Typed};
use skiff_workers::container::ImageSpec;
use skiff_workers::wasm::{CodeKind, CompiledCode};
use skiff_workers::Worker;
use std::sync::Arc;

/// What a deploy resolved its code to before anything is stored.
enum Resolved {
    Wasm(CompiledCode),
    Image(ImageSpec),
}

/// A change to the thing `what` named `name` (a function, an alias), as it is now
/// (`current_revision`: its `revision_id`, none if it does not exist): a create of one that
/// exists is a conflict, an update of a missing one not found, a stale `if_revision` 412.
pub(crate) fn admissible(
    mode: DeployMode,
    if_revision: Option<&str>,
    current_revision: Option<&str>,
    what: &'static str,
    name: &str,
) -> Result<(), InvokerError> {
    match (mode, current_revision) {
        (DeployMode::Create, Some(_)) => Err(InvokerError::Exists { what, name: name.to_string() }),
        (DeployMode::Update, None) => Err(InvokerError::NotFound(name.to_string())),
        (_, Some(current)) if if_revision.is_some_and(|expected| expected != current) => Err(InvokerError::StaleRevision { function: name.to_string() }),
        _ => Ok(()),
    }
}

/// The collections a deployer writes.
pub(crate) struct DefinitionStores {
    pub(crate) functions: Typed<FunctionConfig>,
    pub(crate) versions: Typed<FunctionConfig>,
    pub(crate) aliases: Typed<Alias>,
    pub(crate) triggers: Typed<TriggerConfig>,
}

/// Deploys and deletes functions, their versions and aliases. Cheap to clone.
#[derive(Clone)]
pub struct Deployer {
    registry: Arc<Registry>,
    builder: Arc<WorkerBuilder>,
    functions: Typed<FunctionConfig>,
    /// Published versions: frozen function configs keyed `function:number`.
    versions: Typed<FunctionConfig>,
    aliases: Typed<Alias>,
    triggers: Typed<TriggerConfig>,
    blobs: Arc<dyn BlobStore>,
    /// Serialises control-plane changes on this node, so a read-modify-write does not race
    /// another one here (compare-and-swap catches the races between nodes).
    control: Arc<tokio::sync::Mutex<()>>,
}

impl Deployer {
    pub(crate) fn new(
        registry: Arc<Registry>,
        builder: Arc<WorkerBuilder>,
        stores: DefinitionStores,
        blobs: Arc<dyn BlobStore>,
        control: Arc<tokio::sync::Mutex<()>>,
    ) -> Self {
        let DefinitionStores { functions, versions, aliases, triggers } = stores;
        Self { registry, builder, functions, versions, aliases, triggers, blobs, control }
    }

    /// Creates or updates a function. Everything is validated — settings, then the code compiled
    /// and its ABI checked, or the image resolved in the local engine — before anything is
    /// stored; the new version then replaces the old one atomically, calls already running
    /// finish on the old one, and the old version's idle containers are retired.
    pub async fn deploy(&self, request: DeployRequest) -> Result<FunctionConfig, InvokerError> {
        request.validate()?;
        // Compiling is the slow part of a deploy: it happens before the control lock, so other
        // deploys do not wait behind it (the artifact cache is keyed by the code's hash).
        let compiled = match request.wasm.clone() {
            Some(wasm) => Some(self.compile(wasm).await?),
            None => None,
        };
        let _guard = self.control.lock().await;
        let existing = self.registry.get(&request.name);
        let old = existing.as_ref().map(|d| &d.config);
        admissible(request.mode, request.if_revision.as_deref(), old.map(|o| o.revision_id.as_str()), "Function", &request.name)?;
        let zip = merge::zip_info(&request, old)?;
        let (code, resolved) = match (zip.as_ref().filter(|z| old.and_then(|o| o.zip.as_ref()) != Some(*z)), compiled) {
            (Some(changed), _) => {
                let built = self.build_zip(&request, changed).await?;
                let tag = zip_image_tag(&request.name, changed);
                let stored = self.store(&request, existing, built, zip).await;
                // An image built for a deploy that stored nothing is nobody's.
                if stored.is_err() {
                    self.builder.release_zip_image(&tag, &self.registry);
                }
                return stored;
            }
            (None, Some(compiled)) => compiled,
            (None, None) => self.resolve(&request, old).await?,
        };
        self.store(&request, existing, (code, resolved), zip).await
    }

    /// The second half of a deploy, under the control lock with the code resolved: the config
    /// merged and checked, its worker staged, the blob and then the config stored.
    async fn store(
        &self,
        request: &DeployRequest,
        existing: Option<Arc<Deployed>>,
        (code, resolved): (CodeInfo, Resolved),
        zip: Option<ZipInfo>,
    ) -> Result<FunctionConfig, InvokerError> {
        let old = existing.as_ref().map(|d| &d.config);
        let config = merge::merged(request, old, code, zip, now_ms())?;
        merge::refuse_destination_loop(&config, |name| self.registry.get(name).and_then(|d| d.config.events.on_success.clone()))?;
        // A change the running worker does not bake in (concurrency, event settings, a
        // description) keeps it: the registry carries it over, so nothing is built here.
        if !old.is_some_and(|o| o.runs_like(&config)) {
            let worker = match self.prepare(&config, resolved).await {
                Ok(worker) => worker,
                Err(e) => {
                    // Its compiled artifact is left to no one, unless other functions run that code.
                    if let Some(sha) = config.blob() {
                        self.collect_code(sha).await?;
                    }
                    return Err(e);
                }
            };
            self.registry.stage(&config.name, config.version, worker);
        }
        if let (Some(code), Some(sha)) = (request.wasm.as_ref().or(request.zip.as_ref()), config.blob()) {
            self.blobs.put(sha, code.clone()).await?;
        }
        let expect = existing.as_ref().map_or(Expect::Absent, |d| Expect::At(d.revision));
        let revision = match self.functions.put(&config.name, &config, expect).await {
            Ok(revision) => revision,
            Err(e) => {
                self.registry.unstage(&config.name, config.version);
                return Err(e.into());
            }
        };
        self.registry.applied.wait(revision).await;
        if let Some(old_sha) = existing.as_ref().and_then(|d| d.config.blob()).filter(|s| Some(*s) != config.blob()) {
            self.collect_code(old_sha).await?;
        }
        Ok(config)
    }

    /// New Wasm code, checked against the deploy bounds and compiled (or found in the cache).
    async fn compile(&self, wasm: bytes::Bytes) -> Result<(CodeInfo, Resolved), InvokerError> {
        let wasm_backend = self.builder.wasm.clone();
        blocking("compiling wasm", move || {
            let sha256 = hex::encode(Sha256::digest(&wasm));
            let compiled = wasm_backend.compile(&sha256, &wasm).map_err(InvokerError::from_code)?;
            let format = match compiled.kind() {
                CodeKind::Module => WasmFormat::Module,
                CodeKind::Component => WasmFormat::Component,
            };
            Ok((CodeInfo::Wasm { sha256, size: wasm.len() as u64, format }, Resolved::Wasm(compiled)))
        })
        .await
    }

    /// The code of a deploy that sends no new Wasm: an image resolved in the local engine, or
    /// (configuration-only update) the current code.
    async fn resolve(&self, request: &DeployRequest, old: Option<&FunctionConfig>) -> Result<(CodeInfo, Resolved), InvokerError> {
        if let (None, Some((old, zip))) = (&request.image, old.and_then(|o| Some((o, o.zip.as_ref()?)))) {
            let (code, image) = self.builder.zip_image(old, zip).await?;
            return Ok((code, Resolved::Image(image)));
        }
        let old_code = old.map(|o| &o.code);
        let reference = match (&request.image, old_code) {
            (Some(reference), _) => Some((reference.clone(), None)),
            (None, Some(CodeInfo::Image { image, id })) => Some((image.clone(), Some(id.clone()))),
            _ => None,
        };
        match (reference, old_code) {
            (Some((named, id)), _) => {
                let containers = self.builder.containers()?;
                let image = containers.resolve_image(&named, id.as_deref()).await.map_err(InvokerError::from_code)?;
                Ok((CodeInfo::Image { image: named, id: image.id.clone() }, Resolved::Image(image)))
            }
            (None, Some(code)) => Ok((code.clone(), Resolved::Wasm(self.builder.compiled(code).await?))),
            (None, None) => Err(InvokerError::invalid("code is required to create a function: wasm or image")),
        }
    }

    /// A zip function's image, built from its runtime's with the zip (sent now, or stored when
    /// only the handler changed) in `/var/task`.
    async fn build_zip(&self, request: &DeployRequest, zip: &ZipInfo) -> Result<(CodeInfo, Resolved), InvokerError> {
        let (code, image) = self.builder.build_zip_image(&request.name, zip, request.zip.clone()).await?;
        Ok((code, Resolved::Image(image)))
    }

    /// The worker of the new version, built before anything is stored.
    async fn prepare(&self, config: &FunctionConfig, resolved: Resolved) -> Result<Arc<dyn Worker>, InvokerError> {
        match resolved {
            Resolved::Wasm(compiled) => {
                let (wasm, spec) = (self.builder.wasm.clone(), execution_spec(config));
                blocking("preparing a wasm template", move || Ok(Arc::new(wasm.prepare(spec, &compiled).map_err(InvokerError::from_code)?) as Arc<dyn Worker>))
                    .await
            }
            Resolved::Image(image) => Ok(Arc::new(self.builder.container_pool(config, image)?)),
        }
    }

    /// Deletes a function with its versions, aliases and triggers; calls in flight finish,
    /// new calls get `NotFound`, its containers are retired. The function's own record goes
    /// last, so a delete cut short leaves no version or alias without its function.
    pub async fn delete(&self, name: &str) -> Result<(), InvokerError> {
        let _guard = self.control.lock().await;
        let deployed: Arc<Deployed> = self.registry.lookup(name)?;
        for alias in self.aliases.list().await?.0.into_iter().filter(|a| a.value.function == name) {
            self.aliases.delete(&alias.key, Expect::At(alias.revision)).await?;
        }
        let versions: Vec<_> = self.versions.list().await?.0.into_iter().filter(|v| v.value.name == name).collect();
        for version in &versions {
            self.versions.delete(&version.key, Expect::At(version.revision)).await?;
        }
        let revision = self.functions.delete(name, Expect::At(deployed.revision)).await?;
        // A trigger cannot outlive its function.
        for trigger in self.triggers.list().await?.0.into_iter().filter(|t| t.value.function == name) {
            self.triggers.delete(&trigger.key, Expect::At(trigger.revision)).await?;
        }
        self.registry.applied.wait(revision).await;
        let mut codes: Vec<&str> = versions.iter().filter_map(|v| v.value.blob()).collect();
        codes.extend(deployed.config.blob());
        codes.sort_unstable();
        codes.dedup();
        for sha in codes {
            self.collect_code(sha).await?;
        }
        Ok(())
    }

    /// Removes a blob, and its compiled artifact, that no stored config (the functions' or
    /// their versions') refers to any more.
    async fn collect_code(&self, sha256: &str) -> Result<(), InvokerError> {
        let (functions, _) = self.functions.list().await?;
        let (versions, _) = self.versions.list().await?;
        if !functions.iter().chain(&versions).any(|f| f.value.blob() == Some(sha256)) {
            self.blobs.remove(sha256).await?;
            self.builder.wasm.forget(sha256);
        }
        Ok(())
    }
}
