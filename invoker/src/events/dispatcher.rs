//! One dispatcher per function consumes its event queue. Executions are bounded by the
//! function's concurrency (its reserved limit, else the server's) and prefetch by a small
//! multiple of it, so the backlog stays in the queue and memory holds only what is about to run
//! or is finishing. Each delivery is acked only after its
//! outcome is durable somewhere else — the invocation finished and its retry, dead letter or
//! success is recorded — so a crash at any point repeats work and never loses it.

use super::attempt::{run_event, Fate};
use super::context::Context;
use super::event::Event;
use skiff_state::queue::{Delivery, QueueRef};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

/// Unacked deliveries per execution slot. A delivery stays unacked after its events ran, until
/// their final status is committed (tens of ms); without headroom those waits, not executions,
/// would bound throughput. Memory stays bounded: messages hold at most 256 KB of events.
const PREFETCH_PER_SLOT: u32 = 4;

/// Starts the function's dispatcher, or restarts it if its concurrency changed.
pub(super) fn ensure(ctx: &Arc<Context>, function: &str, concurrency: u16) {
    let (this, name) = (ctx.clone(), function.to_string());
    ctx.dispatchers.start(function, concurrency, |c| *c == concurrency, move |stop| run(this, name, concurrency, stop));
}

async fn run(ctx: Arc<Context>, function: String, concurrency: u16, mut stop: watch::Receiver<bool>) {
    let broker = ctx.queue.clone();
    let prefetch = (u32::from(concurrency) * PREFETCH_PER_SLOT).min(u32::from(u16::MAX)) as u16;
    let mut consumer = broker.consume(QueueRef::function(&function), prefetch);
    // Events run at most `concurrency` at a time; the others wait for a slot, in the order they
    // were received, instead of spinning on throttles.
    let turns = slot_queue(Arc::new(Semaphore::new(concurrency.into())));
    let mut running = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            delivery = consumer.next() => match delivery {
                Some(d) => match decode(&function, &d) {
                    Ok(events) => {
                        let events = count_cut_off_runs(&ctx, &function, &d, events);
                        let slots = events.iter().map(|_| take_turn(&turns)).collect();
                        running.spawn(handle(ctx.clone(), function.clone(), d, events, slots));
                    }
                    Err(why) => { running.spawn(quarantine(ctx.clone(), function.clone(), d, why)); }
                },
                None => break,
            },
            Some(_) = running.join_next(), if !running.is_empty() => {}
        }
    }
    drop(consumer);
    while running.join_next().await.is_some() {}
}

/// A request for an execution slot, answered when the slot is free.
type Turn = oneshot::Sender<OwnedSemaphorePermit>;

/// Hands out execution slots strictly in the order they were asked for. Tasks spawned per
/// delivery would otherwise reach the semaphore in whatever order the scheduler polls them,
/// so a later event could run before an earlier one that is still waiting.
fn slot_queue(slots: Arc<Semaphore>) -> mpsc::UnboundedSender<Turn> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Turn>();
    tokio::spawn(async move {
        while let Some(turn) = rx.recv().await {
            let Ok(slot) = slots.clone().acquire_owned().await else { return };
            // A waiter that went away hands its slot straight back (dropped with the error).
            let _ = turn.send(slot);
        }
    });
    tx
}

fn take_turn(turns: &mpsc::UnboundedSender<Turn>) -> oneshot::Receiver<OwnedSemaphorePermit> {
    let (turn, slot) = oneshot::channel();
    let _ = turns.send(turn);
    slot
}

/// A message handed out before and never acked had its run cut off (a crash, a broker outage)
/// or given back: each such delivery counts as an attempt, so the status, the destination
/// record's `approximateInvokeCount` and the retry budget see the run that repeats.
fn count_cut_off_runs(ctx: &Context, function: &str, delivery: &Delivery, mut events: Vec<Event>) -> Vec<Event> {
    let earlier = delivery.earlier_runs;
    if earlier == 0 {
        return events;
    }
    for event in &mut events {
        event.attempts += earlier;
        tracing::info!(function, request_id = %event.request_id, earlier_runs = earlier, "an event whose run was cut off runs again");
    }
    ctx.metrics.reruns.with_label_values(&[function]).inc_by(u64::from(earlier) * events.len() as u64);
    events
}

/// The events of a delivery of `function`'s queue, or why it holds none that can run.
fn decode(function: &str, delivery: &Delivery) -> Result<Vec<Event>, String> {
    if !delivery.authentic {
        return Err("not enqueued by this server: its signature does not hold".into());
    }
    match super::coalesce::decode(&delivery.message) {
        Ok(events) if events.iter().all(|e| e.function == function) => Ok(events),
        Ok(_) => Err("an event of another function".into()),
        Err(e) => Err(format!("not a Skiff event: {e}")),
    }
}

/// One delivery holds one event, or several the accept path published together (see
/// `coalesce`). They run concurrently, each in its slot's turn; the delivery is acked once every
/// one is settled. An event that must run again is republished alone first — or, if that fails
/// too, the whole delivery goes back (its settled events may then run twice: at least once,
/// never lost).
async fn handle(ctx: Arc<Context>, function: String, delivery: Delivery, events: Vec<Event>, slots: Vec<oneshot::Receiver<OwnedSemaphorePermit>>) {
    let single = events.len() == 1;
    let runs = events.into_iter().zip(slots).map(|(e, slot)| run_event(&ctx, &delivery, e, slot));
    let fates = futures_util::future::join_all(runs).await;
    let mut again = Vec::new();
    for fate in fates {
        match fate {
            Fate::GiveBack(e) => again.push(e),
            // A failed commit is logged by the store; the event itself is done either way.
            Fate::Recorded(committed) => drop(committed.await),
            Fate::Settled => {}
        }
    }
    if again.is_empty() {
        return settle(delivery, &function).await;
    }
    if single {
        return delivery.requeue().await;
    }
    for event in &again {
        if let Err(e) = ctx.queue.publish(&QueueRef::function(&function), &event.to_message(), None).await {
            tracing::warn!(request_id = %event.request_id, "cannot requeue an event alone, its batch runs again: {e}");
            return delivery.requeue().await;
        }
    }
    settle(delivery, &function).await;
}

async fn settle(delivery: Delivery, function: &str) {
    let id = delivery.message.id.clone();
    if let Err(e) = delivery.ack().await {
        tracing::warn!(function, message = %id, "ack failed, the message will be delivered again: {e}");
    }
}

/// A message in a function queue that is not an event (published there by hand) cannot run;
/// it goes to the dead-letter queue as it is, marked, rather than blocking or vanishing.
async fn quarantine(ctx: Arc<Context>, function: String, delivery: Delivery, why: String) {
    let mut message = delivery.message.clone();
    message.headers.insert("x-skiff-error".into(), why.into());
    match ctx.queue.publish(&QueueRef::function_dlq(&function), &message, None).await {
        Ok(()) => settle(delivery, &function).await,
        Err(e) => {
            tracing::warn!("cannot quarantine a malformed message: {e}");
            delivery.requeue().await
        }
    }
}
