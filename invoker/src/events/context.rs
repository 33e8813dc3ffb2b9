//! What every part of the async path shares: the runner, the queue, the status store.

use super::coalesce::Coalescer;
use crate::callback_policy::CallbackPolicy;
use crate::metrics::Metrics;
use crate::registry::Registry;
use crate::run::Runner;
use crate::tasks::StoppableTasks;
use skiff_state::queue::SharedQueue;
use skiff_state::status::StatusStore;
use std::sync::Arc;

pub(super) struct Context {
    pub(super) runner: Runner,
    pub(super) registry: Arc<Registry>,
    pub(super) queue: SharedQueue,
    pub(super) status: Arc<StatusStore>,
    pub(super) coalescer: Coalescer,
    /// The running dispatchers, by function; each remembers its concurrency.
    pub(super) dispatchers: StoppableTasks<u16>,
    pub(super) metrics: Arc<Metrics>,
    /// Where callbacks may be sent.
    pub(super) callback_policy: Arc<CallbackPolicy>,
    pub(super) region: String,
    pub(super) max_concurrency: u32,
}
