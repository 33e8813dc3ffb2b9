//! The consumer of one trigger: collects batches (up to the batch size, or until the batching
//! window closes) and runs up to `concurrency` of them at once. Prefetch is batch size ×
//! concurrency, so the queue keeps everything that could not be running.

use super::batch::{process, Item};
use super::context::{source, Context};
use crate::tasks::StoppableTasks;
use skiff_api::TriggerConfig;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

/// The running trigger consumers, by trigger id.
pub(super) type Consumers = StoppableTasks<TriggerConfig>;

pub(super) fn start(consumers: &Consumers, ctx: &Arc<Context>, trigger: TriggerConfig) {
    let (ctx, id, meta, wanted) = (ctx.clone(), trigger.id.clone(), trigger.clone(), trigger.clone());
    // A consumer already running this very definition (seen again after a re-list) stays.
    consumers.start(&id, meta, |running| *running == wanted, move |stop| run(ctx, trigger, stop));
}

async fn run(ctx: Arc<Context>, trigger: TriggerConfig, mut stop: watch::Receiver<bool>) {
    let prefetch = (trigger.batch_size * trigger.concurrency).min(u32::from(u16::MAX)) as u16;
    let mut consumer = ctx.queue.consume(source(&trigger), prefetch);
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
        let (ctx, trigger) = (ctx.clone(), trigger.clone());
        running.spawn(async move {
            process(&ctx, &trigger, batch).await;
            drop(slot);
        });
        while running.try_join_next().is_some() {}
    }
    drop(consumer);
    while running.join_next().await.is_some() {}
}
