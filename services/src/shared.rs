//! What a service's reconciler shares with the API and the proxy.

use crate::endpoints::ServiceRoute;
use skiff_api::{EndpointView, ServiceConfig};
use skiff_state::config::Revision;
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

/// The reconciler's last view of its copies, and its last error.
#[derive(Debug, Clone, Default)]
pub(crate) struct CopiesReport {
    pub(crate) copies: Vec<EndpointView>,
    pub(crate) last_error: Option<String>,
}

pub(crate) struct Shared {
    pub(crate) route: Arc<ServiceRoute>,
    /// The desired state, and the store revision it was written at (what the next change
    /// expects to replace).
    pub(crate) config: watch::Sender<ServiceConfig>,
    pub(crate) revision: Mutex<Revision>,
    pub(crate) copies: Mutex<CopiesReport>,
    pub(crate) wake: Notify,
    pub(crate) stop: watch::Sender<Option<Stop>>,
    pub(crate) task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Shared {
    /// Tells the reconciler to stop and waits until it has.
    pub(crate) async fn stop(&self, why: Stop) {
        let _ = self.stop.send(Some(why));
        let task = self.task.lock().expect("task lock").take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}
