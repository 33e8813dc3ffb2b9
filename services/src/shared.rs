//! What a service's reconciler shares with the API and the proxy.

use crate::endpoints::ServiceRoute;
use skiff_api::service::Placed;
use skiff_api::ServiceConfig;
use skiff_state::config::Revision;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{watch, Notify};

/// Why a reconciler is told to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The service was deleted: stop every copy.
    Delete,
    /// The server is shutting down: leave the copies for the next server to adopt.
    Shutdown,
}

pub(crate) struct Shared {
    pub(crate) route: Arc<ServiceRoute>,
    /// The desired state, and the store revision it was written at (what the next change
    /// expects to replace).
    pub(crate) config: watch::Sender<ServiceConfig>,
    pub(crate) revision: Mutex<Revision>,
    /// What this node's reconciler last saw of the copies, while it schedules.
    pub(crate) report: Mutex<Placed>,
    /// Whether this node schedules the service now: then its reconciler keeps the route, else
    /// the route follows what the scheduler placed.
    acting: AtomicBool,
    pub(crate) wake: Notify,
    pub(crate) stop: watch::Sender<Option<Stop>>,
    pub(crate) task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Shared {
    pub(crate) fn new(route: Arc<ServiceRoute>, config: ServiceConfig, revision: Revision) -> (Self, watch::Receiver<Option<Stop>>) {
        let (stop, stop_rx) = watch::channel(None);
        let shared = Self {
            route,
            config: watch::Sender::new(config),
            revision: Mutex::new(revision),
            report: Mutex::default(),
            acting: AtomicBool::new(false),
            wake: Notify::new(),
            stop,
            task: Mutex::new(None),
        };
        (shared, stop_rx)
    }

    pub(crate) fn is_acting(&self) -> bool {
        self.acting.load(Ordering::Acquire)
    }

    pub(crate) fn set_acting(&self, acting: bool) {
        self.acting.store(acting, Ordering::Release);
    }

    /// Hands the reconciler `config`, stored at `revision`.
    pub(crate) fn publish(&self, config: ServiceConfig, revision: Revision) {
        *self.revision.lock().expect("revision lock") = revision;
        self.config.send_replace(config);
        self.wake.notify_one();
    }

    /// Tells the reconciler to stop and waits until it has.
    pub(crate) async fn stop(&self, why: Stop) {
        let _ = self.stop.send(Some(why));
        let task = self.task.lock().expect("task lock").take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

/// The healthy copies of `placed`, as the route takes them.
pub(crate) fn in_rotation(placed: &Placed) -> Vec<(String, std::net::SocketAddr, u64)> {
    placed
        .copies
        .iter()
        .filter(|c| c.state == skiff_api::CopyState::Healthy)
        .filter_map(|c| Some((c.id.clone(), c.address.parse().ok()?, c.revision)))
        .collect()
}
