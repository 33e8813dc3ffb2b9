//! Services as every node learns of them: the followers of the services collection and of the
//! placements. A definition written on any node reaches this node here; one written on this node
//! comes back here too and is recognised by its revision. Each known service has a reconciler,
//! which acts only while this node holds the scheduler's lease, so one node places a service's
//! copies however many know of it; the others route by the placements the scheduler records.
//!
//! The follower's callbacks are synchronous; applying a change takes the control lock (which
//! every local write holds across its store write and its bookkeeping) and may wait for a
//! reconciler to stop, so changes are queued to one task that applies them in order, through
//! the function `Services` gives (`Services::apply`).

use crate::registry::Registry;
use skiff_api::service::Placed;
use skiff_api::ServiceConfig;
use skiff_state::config::follow::Follower;
use skiff_state::config::Revision;
use std::collections::HashSet;
use std::sync::Arc;
use tokio::sync::mpsc;

/// A change of the services collection, as it is to be applied.
pub(crate) enum Seen {
    /// A definition at a revision (boxed: a definition is far larger than the other changes,
    /// which sit in the same queue).
    Put(Box<ServiceConfig>, Revision),
    /// A service deleted.
    Gone(String),
    /// After a re-list: the services that exist; any other is gone.
    Keep(HashSet<String>),
}

pub(crate) struct ServicesFollower {
    seen: mpsc::UnboundedSender<Seen>,
}

impl ServicesFollower {
    pub(crate) fn new<F, Fut>(apply: F) -> Self
    where
        F: Fn(Seen) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let (seen, mut rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(change) = rx.recv().await {
                apply(change).await;
            }
        });
        Self { seen }
    }
}

impl Follower for ServicesFollower {
    type Record = ServiceConfig;

    fn put(&self, _key: &str, config: ServiceConfig, revision: Revision) {
        let _ = self.seen.send(Seen::Put(Box::new(config), revision));
    }

    fn delete(&self, key: &str) {
        let _ = self.seen.send(Seen::Gone(key.to_string()));
    }

    fn retain(&self, keys: &HashSet<String>) {
        let _ = self.seen.send(Seen::Keep(keys.clone()));
    }

    fn applied(&self, _revision: Revision) {}
}

/// Follows the placements: each record replaces what this node routes the service by.
pub(crate) struct PlacedFollower {
    registry: Arc<Registry>,
}

impl PlacedFollower {
    pub(crate) fn new(registry: Arc<Registry>) -> Self {
        Self { registry }
    }
}

impl Follower for PlacedFollower {
    type Record = Placed;

    fn put(&self, key: &str, placed: Placed, _revision: Revision) {
        self.registry.placed_changed(key, Some(placed));
    }

    fn delete(&self, key: &str) {
        self.registry.placed_changed(key, None);
    }

    fn retain(&self, keys: &HashSet<String>) {
        for name in self.registry.placed_names().into_iter().filter(|n| !keys.contains(n)) {
            self.registry.placed_changed(&name, None);
        }
    }

    fn applied(&self, _revision: Revision) {}
}
