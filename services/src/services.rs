//! The [`Services`] handle the server holds: it starts this node's part (the fleet, the
//! scheduler's lease, the followers of the stored definitions and placements), launches a
//! reconciler per service, and answers the API. What the reconcilers share with it lives in the
//! [`Registry`](crate::registry::Registry) they are given.

use crate::endpoints::{RouteLookup, ServiceRoute};
use crate::error::ServiceError;
use crate::fleet::agent::Agent;
use crate::fleet::Fleet;
use crate::follow::{self, PlacedFollower};
use crate::reconciler;
use crate::registry::Registry;
use crate::shared::{Shared, Stop};
use crate::task_runner::supervise as supervise_tasks;
use skiff_api::task::TaskStatus;
use skiff_api::{EndpointView, ServiceConfig, ServiceView};
use skiff_state::config::{ConfigStore, Expect, Revision};
use skiff_state::lease::{Fence, Lease, Leases};
use skiff_workers::container::ContainerBackend;
use skiff_workers::service::ServiceRuntime;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OnceCell;

/// The fleet this node places copies on, and its own agent in it.
type FleetAndAgent = (Arc<dyn Fleet>, Arc<Agent>);

/// The lease whose holder schedules every service.
pub const SCHEDULER_LEASE: &str = "scheduler";

/// How [`Services::start`] gets the fleet, given this node's agent.
pub type FleetMaker = Box<dyn FnOnce(Arc<Agent>) -> Arc<dyn Fleet> + Send>;

#[derive(Clone)]
pub struct Services {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Arc<Registry>,
    leases: Arc<dyn Leases>,
    /// The fleet and this node's agent, once the engine answered at start-up, or why not.
    fleet: OnceCell<Result<FleetAndAgent, String>>,
    /// The scheduler's lease, kept for the server's life (campaigning again after a loss).
    leadership: OnceCell<Lease>,
    /// The region task ARNs name.
    region: String,
    http: reqwest::Client,
}

/// How this node takes part in running services.
pub struct StartOptions {
    /// The engine, or why there is none.
    pub engine: Result<ContainerBackend, String>,
    /// Publish copies' ports on this address (a cluster node's), instead of reaching them on
    /// the engine's network.
    pub publish: Option<IpAddr>,
    pub fleet: FleetMaker,
}

impl Services {
    pub fn new(store: Arc<dyn ConfigStore>, leases: Arc<dyn Leases>, region: &str) -> Self {
        let http = reqwest::Client::builder().pool_max_idle_per_host(1).build().expect("http client");
        Self {
            inner: Arc::new(Inner {
                registry: Arc::new(Registry::new(store)),
                region: region.to_string(),
                leases,
                fleet: OnceCell::new(),
                leadership: OnceCell::new(),
                http,
            }),
        }
    }

    /// Connects to the engine, campaigns for the scheduler's lease, and follows the stored
    /// services (a reconciler per service, on every node) and their placements.
    pub async fn start(&self, options: StartOptions) {
        let made = match options.engine {
            Ok(backend) => match ServiceRuntime::new(&backend, options.publish).await {
                Ok(runtime) => {
                    let agent = Arc::new(Agent::new(runtime, self.inner.leases.clone()));
                    Ok(((options.fleet)(agent.clone()), agent))
                }
                Err(e) => Err(e.to_string()),
            },
            Err(why) => Err(why),
        };
        let agent = match self.inner.fleet.get_or_init(|| async { made }).await {
            Ok((_, agent)) => agent.clone(),
            Err(why) => {
                tracing::warn!("services cannot run on this node: {why}");
                return;
            }
        };
        match self.inner.registry.definitions.list().await {
            Ok((stored, _)) => agent.remove_orphans(&stored.into_iter().map(|s| s.key).collect()).await,
            Err(e) => tracing::error!("reading services: {e}"),
        }
        match self.inner.registry.tasks.list().await {
            Ok((tasks, _)) => {
                let running = tasks.into_iter().filter(|t| t.value.last_status == TaskStatus::Running).filter_map(|t| t.value.container_id).collect();
                agent.remove_orphan_tasks(&running).await;
            }
            Err(e) => tracing::error!("reading tasks: {e}"),
        }
        let lease = self.inner.leases.acquire(SCHEDULER_LEASE).await;
        tokio::spawn(supervise_tasks(self.inner.registry.clone(), self.fleet().expect("made above"), lease.terms()));
        let _ = self.inner.leadership.set(lease);
        let placed = self.inner.registry.placed.clone();
        if let Err(e) = skiff_state::config::follow::start(placed, PlacedFollower::new(self.inner.registry.clone())).await {
            tracing::error!("following placements: {e}");
        }
        let definitions = self.inner.registry.definitions.clone();
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
                let _guard = self.inner.registry.control.lock().await;
                self.learn(*config, revision);
                return;
            }
            follow::Seen::Gone(name) => vec![name],
            follow::Seen::Keep(keys) => self.inner.registry.services.iter().map(|e| e.key().clone()).filter(|n| !keys.contains(n)).collect(),
        };
        for name in gone {
            let removed = {
                let _guard = self.inner.registry.control.lock().await;
                self.inner.registry.services.remove(&name).map(|(_, shared)| shared)
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
        match self.inner.registry.shared(&config.name).ok() {
            Some(shared) => {
                if *shared.revision.lock().expect("revision lock") >= revision {
                    return;
                }
                shared.publish(config, revision);
            }
            None => match self.fleet() {
                Ok(fleet) => self.launch(config, revision, fleet),
                Err(e) => tracing::warn!(service = %config.name, "not started: {e}"),
            },
        }
    }

    /// What this node knows of services and tasks.
    pub(crate) fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// The region task ARNs name.
    pub(crate) fn region(&self) -> &str {
        &self.inner.region
    }

    pub(crate) fn fleet(&self) -> Result<Arc<dyn Fleet>, ServiceError> {
        match self.inner.fleet.get() {
            Some(Ok((fleet, _))) => Ok(fleet.clone()),
            Some(Err(why)) => Err(ServiceError::NoEngine(why.clone())),
            None => Err(ServiceError::NotStarted),
        }
    }

    /// This node's agent, which carries out the scheduler's orders here.
    pub fn agent(&self) -> Result<Arc<Agent>, ServiceError> {
        match self.inner.fleet.get() {
            Some(Ok((_, agent))) => Ok(agent.clone()),
            Some(Err(why)) => Err(ServiceError::NoEngine(why.clone())),
            None => Err(ServiceError::NotStarted),
        }
    }

    fn launch(&self, config: ServiceConfig, revision: Revision, fleet: Arc<dyn Fleet>) {
        let route = ServiceRoute::new(&config.name, Duration::from_millis(config.request_timeout_ms));
        let name = config.name.clone();
        let (shared, stop_rx) = Shared::new(route, config, revision);
        let shared = Arc::new(shared);
        self.inner.registry.follow_placed(&shared);
        let Some(lease) = self.inner.leadership.get() else { return };
        let supervise = reconciler::supervise(self.inner.registry.clone(), shared.clone(), fleet, self.inner.http.clone(), lease.terms(), stop_rx);
        *shared.task.lock().expect("task lock") = Some(tokio::spawn(supervise));
        self.inner.registry.services.insert(name, shared);
    }

    /// Stores `config` (created if `shared` is `None`, else replacing what `shared` holds) and
    /// hands it to the reconciler, launching one for a new service. The caller holds the
    /// control lock.
    pub(crate) async fn store(&self, config: ServiceConfig, shared: Option<&Shared>, fence: Option<&Fence>) -> Result<(), ServiceError> {
        let registry = &self.inner.registry;
        match shared {
            Some(shared) => registry.replace(config, shared, fence).await,
            None => {
                let revision = registry.put(&config, Expect::Absent, fence).await?;
                self.launch(config, revision, self.fleet()?);
                Ok(())
            }
        }
    }

    pub async fn scale(&self, name: &str, count: u32) -> Result<ServiceView, ServiceError> {
        if count > skiff_api::service::MAX_COUNT {
            return Err(skiff_api::Invalid(format!("count must be 0..{}", skiff_api::service::MAX_COUNT)).into());
        }
        let autoscaled = self.shared(name)?.config.borrow().autoscaling;
        if let Some(a) = autoscaled {
            if count < a.min || count > a.max {
                return Err(
                    skiff_api::Invalid(format!("count {count} is outside the autoscaling range {}..{}; change the range with a deploy", a.min, a.max)).into()
                );
            }
        }
        self.inner.registry.modify(name, None, |c| c.desired_count = count).await?;
        self.get(name)
    }

    fn shared(&self, name: &str) -> Result<Arc<Shared>, ServiceError> {
        self.inner.registry.shared(name)
    }

    pub fn get(&self, name: &str) -> Result<ServiceView, ServiceError> {
        let shared = self.shared(name)?;
        let config = shared.config.borrow().clone();
        let placed = match shared.is_acting() {
            true => shared.report.lock().expect("report lock").clone(),
            false => self.inner.registry.seen_placed.get(name).map(|p| p.clone()).unwrap_or_default(),
        };
        Ok(ServiceView::new(config, placed))
    }

    pub fn list(&self) -> Vec<ServiceView> {
        let mut names: Vec<String> = self.inner.registry.services.iter().map(|e| e.key().clone()).collect();
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
            let _guard = self.inner.registry.control.lock().await;
            let shared = self.shared(name)?;
            let revision = *shared.revision.lock().expect("revision lock");
            self.inner.registry.definitions.delete(name, Expect::At(revision)).await?;
            self.inner.registry.services.remove(name);
            // What is left of the record is only a report; the copies go with the definition.
            if let Err(e) = self.inner.registry.placed.delete(name, Expect::Any).await {
                tracing::warn!(service = name, "removing the placements record: {e}");
            }
            shared
        };
        // Outside the lock: the reconciler may be waiting for it to record a change.
        shared.stop(Stop::Delete).await;
        Ok(())
    }

    /// The last `tail` lines of each copy's output, headed by the copy.
    pub async fn logs(&self, name: &str, tail: usize) -> Result<String, ServiceError> {
        let view = self.get(name)?;
        let fleet = self.fleet()?;
        let mut out = String::new();
        for copy in &view.copies {
            out.push_str(&format!("==> copy {} on {} (revision {}, {}) <==\n", copy.id, copy.node, copy.revision, copy.state));
            match fleet.host(&copy.node) {
                Some(host) => out.push_str(&host.logs(&copy.id, tail).await?),
                None => out.push_str(&format!("(node {} is not ready)\n", copy.node)),
            }
        }
        Ok(out)
    }

    /// `/svc` requests this node is proxying now, per service.
    pub fn proxied_in_flight(&self) -> std::collections::BTreeMap<String, u64> {
        self.inner.registry.services.iter().map(|e| (e.key().clone(), e.value().route.total_in_flight() as u64)).collect()
    }

    /// Stops the reconcilers, leaving the copies running for the next server to adopt.
    pub async fn shutdown(&self) {
        let all: Vec<Arc<Shared>> = self.inner.registry.services.iter().map(|e| e.value().clone()).collect();
        for shared in all {
            shared.stop(Stop::Shutdown).await;
        }
    }
}

impl RouteLookup for Services {
    fn route(&self, name: &str) -> Option<Arc<ServiceRoute>> {
        self.inner.registry.services.get(name).map(|s| s.route.clone())
    }
}
