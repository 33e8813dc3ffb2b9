//! The consumer of one trigger: collects batches (up to the batch size, or until the batching
//! window closes) and runs up to `concurrency` of them at once. Prefetch is batch size ×
//! concurrency, so the queue keeps everything that could not be running.

use super::batch::{process, Item};
use super::TriggerConfig;
use crate::Invoker;
use crate::tasks::StoppableTasks;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

/// The running trigger consumers, by trigger id.
pub(crate) type Triggers = StoppableTasks<()>;

pub(crate) fn start(triggers: &Triggers, invoker: &Invoker, trigger: TriggerConfig) {
    let (invoker, id) = (invoker.clone(), trigger.id.clone());
    triggers.start(&id, (), |_| false, move |stop| run(invoker, trigger, stop));
}

async fn run(invoker: Invoker, trigger: TriggerConfig, mut stop: watch::Receiver<bool>) {
    let prefetch = (trigger.batch_size * trigger.concurrency).min(u32::from(u16::MAX)) as u16;
    let mut consumer = invoker.inner.broker.consume(trigger.source(), prefetch);
    let slots = Arc::new(Semaphore::new(trigger.concurrency as usize));
    let window = Duration::from_millis(trigger.batch_window_ms.into());
    let trigger = Arc::new(trigger);
    let mut running = JoinSet::new();
    'batches: loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("never closed"),
            _ = stop.changed() => break,
        };
        let first = tokio::select! {
            d = consumer.next() => match d { Some(d) => d, None => break },
            _ = stop.changed() => break,
        };
        let mut batch = vec![Item::new(first)];
        let deadline = tokio::time::Instant::now() + window;
        while batch.len() < trigger.batch_size as usize {
            tokio::select! {
                biased;
                d = consumer.next() => match d { Some(d) => batch.push(Item::new(d)), None => break },
                () = tokio::time::sleep_until(deadline) => break,
                _ = stop.changed() => break 'batches, // the partial batch goes back unsettled
            }
        }
        let (invoker, trigger) = (invoker.clone(), trigger.clone());
        running.spawn(async move {
            process(&invoker, &trigger, batch).await;
            drop(slot);
        });
        while running.try_join_next().is_some() {}
    }
    drop(consumer);
    while running.join_next().await.is_some() {}
}
