//! What this node knows of services and tasks: their stored records, each service's
//! [`Shared`] record, the placements as this node last saw them, and the resources the scheduler
//! counts on each node.
//!
//! The reconcilers, the task runner and the placements' follower work through this alone, so
//! they depend on nothing of the `Services` handle that starts them. Every change to a
//! definition goes through [`Registry::modify`] or [`Registry::replace`] under the control lock.

use crate::error::ServiceError;
use crate::shared::{in_rotation, Shared};
use crate::tally::Tally;
use dashmap::DashMap;
use skiff_api::service::Placed;
use skiff_api::task::TaskRecord;
use skiff_api::{now_ms, ServiceConfig};
use skiff_state::config::{Collection, ConfigStore, Expect, Revision, Typed};
use skiff_state::lease::Fence;
use std::sync::Arc;
use tokio::sync::Notify;

pub(crate) struct Registry {
    pub(crate) definitions: Typed<ServiceConfig>,
    /// What the scheduler placed, per service.
    pub(crate) placed: Typed<Placed>,
    /// The placements as this node last saw them (every node follows them).
    pub(crate) seen_placed: DashMap<String, Placed>,
    /// One-off tasks, and a nudge for the scheduler's task rounds.
    pub(crate) tasks: Typed<TaskRecord>,
    pub(crate) task_wake: Notify,
    pub(crate) tally: Tally,
    pub(crate) services: DashMap<String, Arc<Shared>>,
    /// Serialises writers of definitions (the API, the autoscaler, a rollback) and the store's
    /// reports of them.
    pub(crate) control: tokio::sync::Mutex<()>,
}

impl Registry {
    pub(crate) fn new(store: Arc<dyn ConfigStore>) -> Self {
        Self {
            definitions: Typed::new(store.clone(), Collection::Services),
            placed: Typed::new(store.clone(), Collection::Placements),
            seen_placed: DashMap::new(),
            tasks: Typed::new(store, Collection::Tasks),
            task_wake: Notify::new(),
            tally: Tally::default(),
            services: DashMap::new(),
            control: tokio::sync::Mutex::new(()),
        }
    }

    pub(crate) fn shared(&self, name: &str) -> Result<Arc<Shared>, ServiceError> {
        self.services.get(name).map(|s| s.clone()).ok_or_else(|| ServiceError::NotFound(name.to_string()))
    }

    /// Points a service this node does not schedule at the copies the scheduler placed.
    pub(crate) fn follow_placed(&self, shared: &Shared) {
        if shared.is_acting() {
            return;
        }
        let placed = self.seen_placed.get(&shared.route.name).map(|p| p.clone()).unwrap_or_default();
        shared.route.set(&in_rotation(&placed));
    }

    pub(crate) fn placed_names(&self) -> Vec<String> {
        self.seen_placed.iter().map(|e| e.key().clone()).collect()
    }

    /// A placements record as the store reports it (the placements' follower calls this).
    pub(crate) fn placed_changed(&self, name: &str, placed: Option<Placed>) {
        match placed {
            Some(placed) => self.seen_placed.insert(name.to_string(), placed),
            None => self.seen_placed.remove(name).map(|(_, p)| p),
        };
        if let Some(shared) = self.services.get(name) {
            self.follow_placed(&shared);
        }
    }

    /// Stores `config` with compare-and-swap on `expect`; the scheduler's own writes carry its
    /// `fence`, so they are refused once its term is over.
    pub(crate) async fn put(&self, config: &ServiceConfig, expect: Expect, fence: Option<&Fence>) -> Result<Revision, ServiceError> {
        Ok(match fence {
            Some(fence) => self.definitions.put_fenced(&config.name, config, expect, fence).await?,
            None => self.definitions.put(&config.name, config, expect).await?,
        })
    }

    /// Stores `config` in place of what `shared` holds and hands it to the reconciler.
    pub(crate) async fn replace(&self, config: ServiceConfig, shared: &Shared, fence: Option<&Fence>) -> Result<(), ServiceError> {
        let expect = Expect::At(*shared.revision.lock().expect("revision lock"));
        let revision = self.put(&config, expect, fence).await?;
        shared.publish(config, revision);
        Ok(())
    }

    /// Applies `change` to a service's definition under the control lock, persists it and hands
    /// it to the reconciler. The scheduler's own changes (rollout state, autoscaling) carry its
    /// `fence`.
    pub(crate) async fn modify(&self, name: &str, fence: Option<&Fence>, change: impl FnOnce(&mut ServiceConfig)) -> Result<(), ServiceError> {
        let _guard = self.control.lock().await;
        let shared = self.shared(name)?;
        let mut config = shared.config.borrow().clone();
        change(&mut config);
        if config == *shared.config.borrow() {
            return Ok(());
        }
        config.updated_ms = now_ms();
        self.replace(config, &shared, fence).await
    }
}
