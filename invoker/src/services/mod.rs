//! Services: long-running copies of a container image kept at a desired count, healthy,
//! load-balanced through the gateway (`/svc/NAME/...`) and updated without downtime — Amazon ECS
//! services, on the local Docker engine.
//!
//! Each service has a [`Shared`] record (its desired state as a `watch`, the route the proxy
//! picks copies from, what its copies are doing) and one [`reconciler`] task. Every change to a
//! definition goes through [`Services::modify`], which serialises writers (the API, the
//! autoscaler, a rollback), persists the result, then publishes it to the reconciler.

mod api;
mod autoscale;
pub mod config;
pub mod endpoints;
mod reconciler;

use crate::store::Store;
use crate::InvokerError;
use config::{PreviousRevision, Rollout, RolloutState, ServiceConfig, ServiceRequest, ServiceSpec};
use dashmap::DashMap;
use endpoints::{EndpointView, ServiceRoute};
use serde::Serialize;
use skiff_workers::service::ServiceRuntime;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch, Notify, OnceCell};

pub(crate) struct Shared {
    pub(crate) route: Arc<ServiceRoute>,
    pub(crate) config: watch::Sender<ServiceConfig>,
    /// The reconciler's last view of its copies, and its last error.
    pub(crate) copies: Mutex<(Vec<EndpointView>, Option<String>)>,
    pub(crate) wake: Notify,
    /// `Some(true)`: delete (stop every copy); `Some(false)`: server shutdown (leave them).
    stop: watch::Sender<Option<bool>>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// A service as the API shows it: its definition and what is running.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceView {
    #[serde(flatten)]
    pub config: ServiceConfig,
    pub running_count: usize,
    pub healthy_count: usize,
    pub copies: Vec<EndpointView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

#[derive(Clone)]
pub(crate) struct Services {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<Store>,
    /// The engine, once connected at start-up, or why there is none.
    runtime: OnceCell<Result<ServiceRuntime, String>>,
    services: DashMap<String, Arc<Shared>>,
    control: tokio::sync::Mutex<()>,
    http: reqwest::Client,
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

impl Services {
    pub(crate) fn new(store: Arc<Store>) -> Self {
        let http = reqwest::Client::builder().pool_max_idle_per_host(1).build().expect("http client");
        Self {
            inner: Arc::new(Inner {
                store,
                runtime: OnceCell::new(),
                services: DashMap::new(),
                control: tokio::sync::Mutex::new(()),
                http,
            }),
        }
    }

    /// Connects to the engine and starts a reconciler per stored service; copies of services
    /// that no longer exist are removed.
    pub(crate) async fn start(&self, engine: Result<&skiff_workers::container::ContainerBackend, String>) {
        let runtime = match engine {
            Ok(backend) => ServiceRuntime::new(backend).await.map_err(|e| e.to_string()),
            Err(why) => Err(why),
        };
        let runtime = self.inner.runtime.get_or_init(|| async { runtime }).await;
        let stored = match self.inner.store.list_services() {
            Ok(stored) => stored,
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
            for orphan in all.iter().filter(|c| !stored.iter().any(|s| s.name == c.service)) {
                let _ = runtime.stop(&orphan.id, 0).await;
            }
        }
        for config in stored {
            self.launch(config, runtime.clone());
        }
    }

    fn runtime(&self) -> Result<&ServiceRuntime, InvokerError> {
        match self.inner.runtime.get() {
            Some(Ok(r)) => Ok(r),
            Some(Err(why)) => Err(InvokerError::Invalid(format!("services need a Docker engine: {why}"))),
            None => Err(InvokerError::Invalid("services are not started yet".into())),
        }
    }

    fn launch(&self, config: ServiceConfig, runtime: ServiceRuntime) {
        let route = ServiceRoute::new(&config.name, Duration::from_millis(config.request_timeout_ms));
        let (stop, stop_rx) = watch::channel(None);
        let shared = Arc::new(Shared {
            route,
            config: watch::Sender::new(config.clone()),
            copies: Mutex::default(),
            wake: Notify::new(),
            stop,
            task: Mutex::new(None),
        });
        let reconciler = reconciler::Reconciler::new(self.clone(), shared.clone(), runtime, self.inner.http.clone());
        *shared.task.lock().expect("task lock") = Some(tokio::spawn(reconciler.run(stop_rx)));
        self.inner.services.insert(config.name, shared);
    }

    /// Creates or updates a service. A changed spec (image, command, env, port, resources,
    /// health check) makes a new revision, rolled out by the reconciler; other settings apply in
    /// place.
    pub(crate) async fn deploy(&self, name: &str, request: ServiceRequest) -> Result<ServiceView, InvokerError> {
        config::validate_service_name(name)?;
        request.validate()?;
        let runtime = self.runtime()?.clone();
        let image = runtime.inspect_image(&request.image).await.map_err(crate::deploy::invalid)?;
        let spec = ServiceSpec {
            image: request.image.clone(),
            image_id: image.id,
            entrypoint: request.entrypoint.clone(),
            command: request.command.clone(),
            env: request.env.clone(),
            port: request.port,
            memory_mb: request.memory_mb,
            cpu: request.cpu,
            health: request.health.clone(),
        };
        let _guard = self.inner.control.lock().await;
        let now = now_ms();
        let current = self.inner.services.get(name).map(|s| s.config.borrow().clone());
        let config = match current {
            None => ServiceConfig {
                name: name.to_string(),
                spec,
                revision: 1,
                last_revision: 1,
                desired_count: request.count.unwrap_or(1),
                deployment: request.deployment,
                autoscaling: request.autoscaling,
                request_timeout_ms: request.request_timeout_ms,
                previous: None,
                rollout: Rollout { revision: 1, state: RolloutState::InProgress, message: None, updated_ms: now },
                created_ms: now,
                updated_ms: now,
            },
            Some(mut c) => {
                if c.spec != spec {
                    let revision = c.last_revision + 1;
                    let replaced = std::mem::replace(&mut c.spec, spec);
                    // What a failed rollout returns to must have worked: a revision replaced
                    // before its own rollout completed is skipped, the earlier one kept.
                    if matches!(c.rollout.state, RolloutState::Completed | RolloutState::RolledBack) {
                        c.previous = Some(PreviousRevision { revision: c.revision, spec: replaced });
                    }
                    c.revision = revision;
                    c.last_revision = revision;
                    c.rollout = Rollout { revision, state: RolloutState::InProgress, message: None, updated_ms: now };
                }
                if let Some(count) = request.count {
                    c.desired_count = count;
                }
                c.deployment = request.deployment;
                c.autoscaling = request.autoscaling;
                c.request_timeout_ms = request.request_timeout_ms;
                c.updated_ms = now;
                c
            }
        };
        if let Some(a) = &config.autoscaling {
            let clamped = config.desired_count.clamp(a.min, a.max);
            if clamped != config.desired_count {
                return self.publish_new(ServiceConfig { desired_count: clamped, ..config }, runtime).await;
            }
        }
        self.publish_new(config, runtime).await
    }

    async fn publish_new(&self, config: ServiceConfig, runtime: ServiceRuntime) -> Result<ServiceView, InvokerError> {
        self.inner.store.put_service(&config)?;
        let name = config.name.clone();
        match self.inner.services.get(&name) {
            Some(shared) => {
                shared.config.send_replace(config);
                shared.wake.notify_one();
            }
            None => self.launch(config, runtime),
        }
        self.get(&name)
    }

    /// Applies `change` to a service's definition under the control lock, persists it and hands
    /// it to the reconciler.
    pub(crate) async fn modify(&self, name: &str, change: impl FnOnce(&mut ServiceConfig)) -> Result<(), InvokerError> {
        let _guard = self.inner.control.lock().await;
        let shared = self.shared(name)?;
        let mut config = shared.config.borrow().clone();
        change(&mut config);
        if config == *shared.config.borrow() {
            return Ok(());
        }
        config.updated_ms = now_ms();
        self.inner.store.put_service(&config)?;
        shared.config.send_replace(config);
        shared.wake.notify_one();
        Ok(())
    }

    pub(crate) async fn scale(&self, name: &str, count: u32) -> Result<ServiceView, InvokerError> {
        if count > config::MAX_COUNT {
            return Err(InvokerError::Invalid(format!("count must be 0..{}", config::MAX_COUNT)));
        }
        let autoscaled = self.shared(name)?.config.borrow().autoscaling;
        if let Some(a) = autoscaled {
            if count < a.min || count > a.max {
                return Err(InvokerError::Invalid(format!(
                    "count {count} is outside the autoscaling range {}..{}; change the range with a deploy",
                    a.min, a.max
                )));
            }
        }
        self.modify(name, |c| c.desired_count = count).await?;
        self.get(name)
    }

    fn shared(&self, name: &str) -> Result<Arc<Shared>, InvokerError> {
        self.inner
            .services
            .get(name)
            .map(|s| s.clone())
            .ok_or_else(|| InvokerError::UnknownResource(format!("Service not found: {name}")))
    }

    pub(crate) fn get(&self, name: &str) -> Result<ServiceView, InvokerError> {
        let shared = self.shared(name)?;
        let config = shared.config.borrow().clone();
        let (copies, last_error) = shared.copies.lock().expect("copies lock").clone();
        Ok(ServiceView {
            running_count: copies.iter().filter(|c| c.state != "draining").count(),
            healthy_count: copies.iter().filter(|c| c.state == "healthy").count(),
            config,
            copies,
            last_error,
        })
    }

    pub(crate) fn list(&self) -> Vec<ServiceView> {
        let mut names: Vec<String> = self.inner.services.iter().map(|e| e.key().clone()).collect();
        names.sort();
        names.iter().filter_map(|n| self.get(n).ok()).collect()
    }

    /// Deletes a service: its definition first (so a crash now cannot bring it back), then
    /// every copy.
    pub(crate) async fn delete(&self, name: &str) -> Result<(), InvokerError> {
        let shared = {
            let _guard = self.inner.control.lock().await;
            let shared = self.shared(name)?;
            self.inner.store.delete_service(name)?;
            self.inner.services.remove(name);
            shared
        };
        // Outside the lock: the reconciler may be waiting for it to record a change.
        let _ = shared.stop.send(Some(true));
        let task = shared.task.lock().expect("task lock").take();
        if let Some(task) = task {
            let _ = task.await;
        }
        Ok(())
    }

    pub(crate) fn route(&self, name: &str) -> Option<Arc<ServiceRoute>> {
        self.inner.services.get(name).map(|s| s.route.clone())
    }

    /// The last `tail` lines of each copy's output, headed by the copy.
    pub(crate) async fn logs(&self, name: &str, tail: usize) -> Result<String, InvokerError> {
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
    pub(crate) async fn shutdown(&self) {
        let all: Vec<Arc<Shared>> = self.inner.services.iter().map(|e| e.value().clone()).collect();
        for shared in all {
            let _ = shared.stop.send(Some(false));
            let task = shared.task.lock().expect("task lock").take();
            if let Some(task) = task {
                let _ = task.await;
            }
        }
    }
}
