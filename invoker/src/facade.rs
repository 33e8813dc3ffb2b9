//! The invoker as the server composes it: opens what functions need and hands out the narrow
//! handles the gateway calls.

use crate::admission::NodeAdmission;
use crate::builder::WorkerBuilder;
use crate::deploy::{DefinitionStores, Deployer};
use crate::error::InvokerError;
use crate::events::{EventSettings, Events};
use crate::feed::{self, AliasesFollower, FunctionsFollower, TriggersFollower, VersionsFollower};
use crate::logs::LogBook;
use crate::metrics::Metrics;
use crate::options::{InvokerOptions, QueueChoice};
use crate::registry::Registry;
use crate::run::Runner;
use crate::triggers::Triggers;
use skiff_api::{Alias, FunctionConfig, LogEntry, Qualifier, VersionRef};
use skiff_state::blobs::BlobStore;
use skiff_state::config::{Collection, ConfigStore, Typed};
use skiff_state::queue::{self, SharedQueue};
use skiff_state::status::StatusStore;
use skiff_workers::wasm::{EngineOptions, WasmBackend};
use std::sync::Arc;
use tokio::sync::broadcast;

/// Cheap to clone; all clones share one state.
#[derive(Clone)]
pub struct Invoker {
    runner: Runner,
    events: Events,
    triggers: Triggers,
    deployer: Deployer,
    registry: Arc<Registry>,
    builder: Arc<WorkerBuilder>,
    queue: SharedQueue,
    logs: Arc<LogBook>,
    metrics: Arc<Metrics>,
    /// Executions this node runs at once, at most.
    concurrency_limit: u32,
}

impl Invoker {
    /// Opens the queue and the status store under the data dir, registers every stored function
    /// and trigger from `store`, and follows its changes. Workers are built lazily on first
    /// call, from the compiled-artifact cache, so start-up cost does not grow with the fleet.
    pub async fn open(options: InvokerOptions, store: Arc<dyn ConfigStore>, blobs: Arc<dyn BlobStore>) -> Result<Self, InvokerError> {
        let queue = match &options.queue {
            QueueChoice::RabbitMq { url, namespace } => queue::rabbitmq(url, namespace)?,
            QueueChoice::Embedded => queue::embedded(&options.data_dir)?,
        };
        let queue = queue::signed(queue, options.queue_key);
        let status = Arc::new(StatusStore::open(&options.data_dir, options.status_retention, options.status_max_records)?);
        let wasm = WasmBackend::new(EngineOptions {
            enforce_limits: true,
            max_instances: options.max_concurrency,
            cache_dir: options.data_dir.join("compiled"),
            compiler: options.compiler.clone(),
        })?;
        let metrics = Arc::new(Metrics::new(options.node_label.as_deref()));
        let logs = Arc::new(LogBook::default());
        let registry = Arc::new(Registry::new());
        let builder = Arc::new(WorkerBuilder::new(wasm, options.containers, options.keep_warm, blobs.clone(), metrics.clone()));
        let admission = Box::new(NodeAdmission::new(options.max_concurrency, options.shares.clone()));
        let runner = Runner::new(registry.clone(), admission, builder.clone(), logs.clone(), metrics.clone());
        let events = Events::new(
            runner.clone(),
            registry.clone(),
            queue.clone(),
            status,
            metrics.clone(),
            EventSettings { region: options.region, max_concurrency: options.max_concurrency, callback_policy: options.callback_policy },
        );
        let functions = Typed::new(store.clone(), Collection::Functions);
        let versions = Typed::new(store.clone(), Collection::Versions);
        let aliases = Typed::new(store.clone(), Collection::Aliases);
        let trigger_defs = Typed::new(store, Collection::Triggers);
        let control = Arc::new(tokio::sync::Mutex::new(()));
        let triggers = Triggers::new(runner.clone(), queue.clone(), metrics.clone(), trigger_defs.clone(), registry.clone(), control.clone());
        let stores = DefinitionStores { functions: functions.clone(), versions: versions.clone(), aliases: aliases.clone(), triggers: trigger_defs.clone() };
        let deployer = Deployer::new(registry.clone(), builder.clone(), stores, blobs, control);
        let follower =
            FunctionsFollower { registry: registry.clone(), builder: builder.clone(), events: events.clone(), logs: logs.clone(), metrics: metrics.clone() };
        feed::start(functions, follower).await?;
        feed::start(versions, VersionsFollower { registry: registry.clone(), builder: builder.clone() }).await?;
        feed::start(aliases, AliasesFollower { registry: registry.clone() }).await?;
        feed::start(trigger_defs, TriggersFollower { triggers: triggers.clone() }).await?;
        let concurrency_limit = options.max_concurrency;
        Ok(Self { runner, events, triggers, deployer, registry, builder, queue, logs, metrics, concurrency_limit })
    }

    pub fn runner(&self) -> &Runner {
        &self.runner
    }

    pub fn events(&self) -> &Events {
        &self.events
    }

    pub fn triggers(&self) -> &Triggers {
        &self.triggers
    }

    pub fn deployer(&self) -> &Deployer {
        &self.deployer
    }

    pub fn concurrency_limit(&self) -> u32 {
        self.concurrency_limit
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// What is wrong with the function's stored code on this node (a damaged blob), if anything.
    pub async fn code_fault(&self, config: &FunctionConfig) -> Option<String> {
        self.builder.code_fault(config).await
    }

    /// Whether `name` has a worker built on this node, so a call here starts no cold worker.
    pub fn is_warm(&self, name: &str) -> bool {
        self.registry.lookup(name).is_ok_and(|d| d.worker.get().is_some())
    }

    /// The function's timeout, read without copying its config (the forwarding path asks on
    /// every call).
    pub fn timeout(&self, name: &str) -> Option<std::time::Duration> {
        self.registry.lookup(name).ok().map(|d| std::time::Duration::from_secs(u64::from(d.config.timeout_s)))
    }

    /// Executions running on this node now.
    pub fn in_flight(&self) -> u64 {
        self.metrics.concurrent_total.get().max(0) as u64
    }

    pub fn list(&self) -> Vec<FunctionConfig> {
        self.registry.configs()
    }

    /// The function's config: also Lambda's DryRun (the call could be made).
    /// Whether the function's URL takes calls without credentials (its URL config says
    /// `AuthType: NONE`); read without copying its config, on every function URL call.
    pub fn url_is_public(&self, name: &str) -> bool {
        self.registry.lookup(name).is_ok_and(|d| d.config.url.as_ref().is_some_and(skiff_api::UrlConfig::is_public))
    }

    pub fn get(&self, name: &str) -> Result<FunctionConfig, InvokerError> {
        Ok(self.registry.lookup(name)?.config.clone())
    }

    /// The version a call of `name` with `qualifier` runs: an alias with weighted routing
    /// picks one at random, by its weights.
    pub fn resolve(&self, name: &str, qualifier: Option<&Qualifier>) -> Result<VersionRef, InvokerError> {
        let roll = || (uuid::Uuid::new_v4().as_u128() >> 75) as f64 / (1u64 << 53) as f64;
        self.registry.resolve(name, qualifier, roll)
    }

    /// One version's config: the function's own (`$LATEST`) or a published one.
    pub fn version(&self, name: &str, version: VersionRef) -> Result<FunctionConfig, InvokerError> {
        Ok(self.registry.lookup_version(name, version)?.config.clone())
    }

    /// The function's published versions, oldest first.
    pub fn versions(&self, name: &str) -> Result<Vec<FunctionConfig>, InvokerError> {
        self.registry.lookup(name)?;
        Ok(self.registry.published.versions_of(name).iter().map(|d| d.config.clone()).collect())
    }

    pub fn alias(&self, name: &str, alias: &str) -> Result<Alias, InvokerError> {
        self.registry.lookup(name)?;
        self.registry.published.alias(name, alias).ok_or_else(|| InvokerError::NotFound(format!("{name}:{alias}")))
    }

    /// The function's aliases, by name.
    pub fn aliases(&self, name: &str) -> Result<Vec<Alias>, InvokerError> {
        self.registry.lookup(name)?;
        Ok(self.registry.published.aliases_of(name))
    }

    pub fn recent_logs(&self, name: &str, limit: usize) -> Result<Vec<Arc<LogEntry>>, InvokerError> {
        self.registry.lookup(name)?;
        Ok(self.logs.recent(name, limit))
    }

    pub fn follow_logs(&self, name: &str) -> Result<broadcast::Receiver<Arc<LogEntry>>, InvokerError> {
        self.registry.lookup(name)?;
        Ok(self.logs.follow(name))
    }

    /// Builds the workers of functions that keep provisioned containers, so those are started
    /// right after a restart rather than at their first call.
    pub async fn warm_up(&self) {
        for deployed in self.registry.all().into_iter().filter(|d| d.config.provisioned > 0) {
            if let Err(e) = self.builder.worker_for(&deployed).await {
                tracing::warn!(function = %deployed.config.name, "cannot provision containers: {e}");
            }
        }
    }

    /// Stops every worker: first the trigger consumers and event dispatchers (events already
    /// running finish and are acked; nothing else is), then the queue connection, then all
    /// pools and whatever containers remain.
    pub async fn shutdown(&self) {
        self.triggers.stop_all().await;
        self.events.stop_all().await;
        self.queue.close().await;
        for deployed in self.registry.all() {
            deployed.retire();
        }
        if let Ok(backend) = self.builder.containers() {
            match backend.remove_all().await {
                Ok(n) if n > 0 => tracing::info!(removed = n, "function containers stopped"),
                Ok(_) => {}
                Err(e) => tracing::warn!("stopping function containers: {e}"),
            }
        }
    }
}
