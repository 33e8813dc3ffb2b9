//! What a trigger's consumer and its batches share, and where a trigger's queues are.

use crate::metrics::Metrics;
use crate::run::Runner;
use skiff_api::TriggerConfig;
use skiff_state::queue::{QueueRef, SharedQueue};
use std::sync::Arc;

pub(super) struct Context {
    pub(super) runner: Runner,
    pub(super) queue: SharedQueue,
    pub(super) metrics: Arc<Metrics>,
}

/// The queue the trigger consumes (bound to its exchange, if it names one).
pub(super) fn source(trigger: &TriggerConfig) -> QueueRef {
    let bind = trigger.exchange.clone().map(|x| (x, trigger.routing_key.clone().unwrap_or_default()));
    QueueRef::trigger_source(&trigger.id, &trigger.queue, bind)
}

pub(super) fn dlq(trigger: &TriggerConfig) -> QueueRef {
    QueueRef::trigger_dlq(&trigger.id)
}
