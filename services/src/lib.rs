//! Services: long-running copies of a container image kept at a desired count, healthy,
//! load-balanced through the gateway (`/svc/NAME/...`) and updated without downtime — Amazon ECS
//! services, on the local Docker engine.
//!
//! Each service has a [`Shared`](shared::Shared) record (its desired state as a `watch`, the
//! route the proxy picks copies from, what its copies are doing) and one [`reconciler`] task,
//! which acts only while it holds the service's lease. Every change to a definition goes
//! through [`Services::modify`], which serialises writers (the API, the autoscaler, a rollback),
//! stores the result with compare-and-swap on its revision, then publishes it to the reconciler.

mod autoscale;
mod deploy;
pub mod endpoints;
mod error;
mod follow;
mod reconciler;
mod shared;

pub use endpoints::{InFlight, ServiceRoute};
pub use error::ServiceError;

use dashmap::DashMap;
use shared::{CopiesReport, Shared, Stop};
use skiff_api::{now_ms, EndpointView, ServiceConfig, ServiceView};
use skiff_state::config::{Collection, ConfigStore, Expect, Revision, Typed};
use skiff_state::lease::Leases;
use skiff_workers::container::ContainerBackend;
use skiff_workers::service::ServiceRuntime;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch, Notify, OnceCell};

/// Where the proxy finds a service's copies.
pub trait RouteLookup: Send + Sync {
    /// `None` for an unknown service.
    fn route(&self, name: &str) -> Option<Arc<ServiceRoute>>;
}

#[derive(Clone)]
pub struct Services {
    inner: Arc<Inner>,
}

struct Inner {
    definitions: Typed<ServiceConfig>,
    leases: Arc<dyn Leases>,
    /// The engine, once connected at start-up, or why there is none.
    runtime: OnceCell<Result<ServiceRuntime, String>>,
    services: DashMap<String, Arc<Shared>>,
    control: tokio::sync::Mutex<()>,
    http: reqwest::Client,
}

impl Services {
    pub fn new(store: Arc<dyn ConfigStore>, leases: Arc<dyn Leases>) -> Self {
        let http = reqwest::Client::builder().pool_max_idle_per_host(1).build().expect("http client");
        Self {
            inner: Arc::new(Inner {
                definitions: Typed::new(store, Collection::Services),
                leases,
                runtime: OnceCell::new(),
                services: DashMap::new(),
                control: tokio::sync::Mutex::new(()),
                http,
            }),
        }
    }

    /// Connects to the engine, removes copies of services that no longer exist, and follows
    /// the stored services: a reconciler per service, here and on every node.
    pub async fn start(&self, engine: Result<&ContainerBackend, String>) {
        let runtime = match engine {
            Ok(backend) => ServiceRuntime::new(backend).await.map_err(|e| e.to_string()),
            Err(why) => Err(why),
        };
        let runtime = self.inner.runtime.get_or_init(|| async { runtime }).await;
        let stored = match self.inner.definitions.list().await {
            Ok((stored, _)) => stored,
            Err(e) => {
                tracing::error!("reading services: {e}");
                return;
            }
        };
        let Ok(runtime) = runtime else {
            if !stored.is_empty() {
                tracing::warn!("{} services not started: no Docker engine", stored.len());
            }
            return;
        };
        if let Ok(all) = runtime.list(None).await {
            for orphan in all.iter().filter(|c| !stored.iter().any(|s| s.value.name == c.service)) {
                let _ = runtime.stop(&orphan.id, 0).await;
            }
        }
        let definitions = self.inner.definitions.clone();
        let this = self.clone();
        let follower = follow::ServicesFollower::new(move |seen| {
            let this = this.clone();
            async move { this.apply(seen).await }
        });
        if let Err(e) = skiff_state::config::follow::start(definitions, follower).await {
            tracing::error!("following services: {e}");
        }
    }

    /// Applies one change of the stored services to this node.
    async fn apply(&self, change: follow::Seen) {
        let gone: Vec<String> = match change {
            follow::Seen::Put(config, revision) => {
                let _guard = self.inner.control.lock().await;
                self.learn(config, revision);
                return;
            }
            follow::Seen::Gone(name) => vec![name],
            follow::Seen::Keep(keys) => self.inner.services.iter().map(|e| e.key().clone()).filter(|n| !keys.contains(n)).collect(),
        };
        for name in gone {
            let removed = {
                let _guard = self.inner.control.lock().await;
                self.inner.services.remove(&name).map(|(_, shared)| shared)
            };
            // Outside the lock, as a local delete does: the reconciler may be waiting for it.
            if let Some(shared) = removed {
                shared.stop(Stop::Delete).await;
            }
        }
    }

    /// A definition as the store reports it (caller holds the control lock): a new service
    /// gets a reconciler; a newer revision of a known one replaces its desired state; a
    /// revision this node already has (its own write coming back) changes nothing.
    fn learn(&self, config: ServiceConfig, revision: Revision) {
        match self.inner.services.get(&config.name).map(|s| s.clone()) {
            Some(shared) => {
                let mut current = shared.revision.lock().expect("revision lock");
                if *current >= revision {
                    return;
                }
                *current = revision;
                drop(current);
                shared.config.send_replace(config);
                shared.wake.notify_one();
            }
            None => match self.runtime() {
                Ok(runtime) => self.launch(config, revision, runtime.clone()),
                Err(e) => tracing::warn!(service = %config.name, "not started: {e}"),
            },
        }
    }

    fn runtime(&self) -> Result<&ServiceRuntime, ServiceError> {
        match self.inner.runtime.get() {
            Some(Ok(r)) => Ok(r),
            Some(Err(why)) => Err(ServiceError::NoEngine(why.clone())),
            None => Err(ServiceError::NotStarted),
        }
    }

    fn launch(&self, config: ServiceConfig, revision: Revision, runtime: ServiceRuntime) {
        let route = ServiceRoute::new(&config.name, Duration::from_millis(config.request_timeout_ms));
        let (stop, stop_rx) = watch::channel(None);
        let name = config.name.clone();
        let shared = Arc::new(Shared {
            route,
            config: watch::Sender::new(config),
            revision: Mutex::new(revision),
            copies: Mutex::default(),
            wake: Notify::new(),
            stop,
            task: Mutex::new(None),
        });
        let reconciler = reconciler::Reconciler::new(self.clone(), shared.clone(), runtime, self.inner.http.clone());
        let leases = self.inner.leases.clone();
        let lease_name = format!("service/{name}");
        let task = tokio::spawn(async move {
            let lease = leases.acquire(&lease_name).await;
            reconciler.run(lease, stop_rx).await
        });
        *shared.task.lock().expect("task lock") = Some(task);
        self.inner.services.insert(name, shared);
    }

    /// Stores `config` (created if `shared` is `None`, else replacing what `shared` holds) and
    /// hands it to the reconciler, launching one for a new service.
    async fn store(&self, config: ServiceConfig, shared: Option<&Shared>) -> Result<(), ServiceError> {
        let expect = shared.map_or(Expect::Absent, |s| Expect::At(*s.revision.lock().expect("revision lock")));
        let revision = self.inner.definitions.put(&config.name, &config, expect).await?;
        match shared {
            Some(shared) => {
                *shared.revision.lock().expect("revision lock") = revision;
                shared.config.send_replace(config);
                shared.wake.notify_one();
            }
            None => self.launch(config, revision, self.runtime()?.clone()),
        }
        Ok(())
    }

    /// Applies `change` to a service's definition under the control lock, persists it and hands
    /// it to the reconciler.
    pub(crate) async fn modify(&self, name: &str, change: impl FnOnce(&mut ServiceConfig)) -> Result<(), ServiceError> {
        let _guard = self.inner.control.lock().await;
        let shared = self.shared(name)?;
        let mut config = shared.config.borrow().clone();
        change(&mut config);
        if config == *shared.config.borrow() {
            return Ok(());
        }
        config.updated_ms = now_ms();
        self.store(config, Some(&shared)).await
    }

    pub async fn scale(&self, name: &str, count: u32) -> Result<ServiceView, ServiceError> {
        if count > skiff_api::service::MAX_COUNT {
            return Err(skiff_api::Invalid(format!("count must be 0..{}", skiff_api::service::MAX_COUNT)).into());
        }
        let autoscaled = self.shared(name)?.config.borrow().autoscaling;
        if let Some(a) = autoscaled {
            if count < a.min || count > a.max {
                return Err(skiff_api::Invalid(format!(
                    "count {count} is outside the autoscaling range {}..{}; change the range with a deploy",
                    a.min, a.max
                ))
                .into());
            }
        }
        self.modify(name, |c| c.desired_count = count).await?;
        self.get(name)
    }

    fn shared(&self, name: &str) -> Result<Arc<Shared>, ServiceError> {
        self.inner.services.get(name).map(|s| s.clone()).ok_or_else(|| ServiceError::NotFound(name.to_string()))
    }

    pub fn get(&self, name: &str) -> Result<ServiceView, ServiceError> {
        let shared = self.shared(name)?;
        let config = shared.config.borrow().clone();
        let CopiesReport { copies, last_error } = shared.copies.lock().expect("copies lock").clone();
        Ok(ServiceView::new(config, copies, last_error))
    }

    pub fn list(&self) -> Vec<ServiceView> {
        let mut names: Vec<String> = self.inner.services.iter().map(|e| e.key().clone()).collect();
        names.sort();
        names.iter().filter_map(|n| self.get(n).ok()).collect()
    }

    /// Every copy of the service with its address and state (service discovery).
    pub fn endpoints(&self, name: &str) -> Result<Vec<EndpointView>, ServiceError> {
        Ok(self.get(name)?.copies)
    }

    /// Deletes a service: its definition first (so a crash now cannot bring it back), then
    /// every copy.
    pub async fn delete(&self, name: &str) -> Result<(), ServiceError> {
        let shared = {
            let _guard = self.inner.control.lock().await;
            let shared = self.shared(name)?;
            let revision = *shared.revision.lock().expect("revision lock");
            self.inner.definitions.delete(name, Expect::At(revision)).await?;
            self.inner.services.remove(name);
            shared
        };
        // Outside the lock: the reconciler may be waiting for it to record a change.
        shared.stop(Stop::Delete).await;
        Ok(())
    }

    /// The last `tail` lines of each copy's output, headed by the copy.
    pub async fn logs(&self, name: &str, tail: usize) -> Result<String, ServiceError> {
        let view = self.get(name)?;
        let runtime = self.runtime()?;
        let mut out = String::new();
        for copy in &view.copies {
            out.push_str(&format!("==> copy {} (revision {}, {}) <==\n", copy.id, copy.revision, copy.state));
            out.push_str(&runtime.logs(&copy.id, tail).await?);
        }
        Ok(out)
    }

    /// Stops the reconcilers, leaving the copies running for the next server to adopt.
    pub async fn shutdown(&self) {
        let all: Vec<Arc<Shared>> = self.inner.services.iter().map(|e| e.value().clone()).collect();
        for shared in all {
            shared.stop(Stop::Shutdown).await;
        }
    }
}

impl RouteLookup for Services {
    fn route(&self, name: &str) -> Option<Arc<ServiceRoute>> {
        self.inner.services.get(name).map(|s| s.route.clone())
    }
}
