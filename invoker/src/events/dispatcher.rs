//! One dispatcher per function consumes its event queue. Executions are bounded by the
//! function's concurrency (its reserved limit, else the server's) and prefetch by a small
//! multiple of it, so the backlog stays in the queue and memory holds only what is about to run
//! or is finishing. Each delivery is acked only after its
//! outcome is durable somewhere else — the invocation finished and its retry, dead letter or
//! success is recorded — so a crash at any point repeats work and never loses it.

use super::record::success_record;
use super::{callback, Destination, Event, InvocationState, InvocationStatus};
use crate::invoker::now_ms;
use crate::queue::{Delivery, QueueRef};
use crate::tasks::StoppableTasks;
use crate::{Invoker, InvokerError};
use skiff_workers::Outcome;
use std::sync::Arc;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

/// The running dispatchers, by function; each remembers its concurrency.
pub(crate) type Dispatchers = StoppableTasks<u16>;

/// Unacked deliveries per execution slot. A delivery stays unacked after its events ran, until
/// their final status is committed (tens of ms); without headroom those waits, not executions,
/// would bound throughput. Memory stays bounded: messages hold at most 256 KB of events.
const PREFETCH_PER_SLOT: u32 = 4;

/// Starts the function's dispatcher, or restarts it if its concurrency changed.
pub(crate) fn ensure(dispatchers: &Dispatchers, invoker: &Invoker, function: &str, concurrency: u16) {
    let (invoker, name) = (invoker.clone(), function.to_string());
    dispatchers.start(function, concurrency, |c| *c == concurrency, move |stop| run(invoker, name, concurrency, stop));
}

async fn run(invoker: Invoker, function: String, concurrency: u16, mut stop: watch::Receiver<bool>) {
    let broker = invoker.inner.broker.clone();
    let prefetch = (u32::from(concurrency) * PREFETCH_PER_SLOT).min(u32::from(u16::MAX)) as u16;
    let mut consumer = broker.consume(QueueRef::function(&function), prefetch);
    // Events run at most `concurrency` at a time; the others wait here, in order, instead of
    // spinning on throttles.
    let slots = Arc::new(Semaphore::new(concurrency.into()));
    let mut running = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            delivery = consumer.next() => match delivery {
                Some(d) => { running.spawn(handle(invoker.clone(), function.clone(), d, slots.clone())); }
                None => break,
            },
            Some(_) = running.join_next(), if !running.is_empty() => {}
        }
    }
    drop(consumer);
    while running.join_next().await.is_some() {}
}

/// What became of one event of a delivery.
enum Fate {
    /// Its outcome is durable elsewhere (done and recorded, retry scheduled, dead-lettered).
    Settled,
    /// Settled once its final status record is committed.
    Recorded(tokio::sync::oneshot::Receiver<()>),
    /// It must run again: the delivery may not be acked on its account.
    GiveBack(Event),
}

/// One delivery holds one event, or several the accept path published together (see
/// `coalesce`). They run concurrently; the delivery is acked once every one is settled. An
/// event that must run again is republished alone first — or, if that fails too, the whole
/// delivery goes back (its settled events may then run twice: at least once, never lost).
async fn handle(invoker: Invoker, function: String, delivery: Delivery, slots: Arc<Semaphore>) {
    let events = match super::coalesce::decode(&delivery.message) {
        Ok(events) if events.iter().all(|e| e.function == function) => events,
        Ok(_) => return quarantine(&invoker, &function, delivery, "an event of another function").await,
        Err(e) => return quarantine(&invoker, &function, delivery, &format!("not a Skiff event: {e}")).await,
    };
    let single = events.len() == 1;
    let fates = futures_util::future::join_all(events.into_iter().map(|e| run_event(&invoker, e, &slots))).await;
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
        if let Err(e) = invoker.inner.broker.publish(&QueueRef::function(&function), &event.to_message(), None).await {
            tracing::warn!(request_id = %event.request_id, "cannot requeue an event alone, its batch runs again: {e}");
            return delivery.requeue().await;
        }
    }
    settle(delivery, &function).await;
}

async fn run_event(invoker: &Invoker, event: Event, slots: &Semaphore) -> Fate {
    let slot = slots.acquire().await.expect("never closed");
    let id = event.request_id.clone();
    let fate = attempt(invoker, event).await;
    drop(slot); // the wait for the status commit holds no execution slot
    // However it ended (done, retried, dead-lettered, or given back), it is not running here.
    invoker.inner.status.not_running(&id);
    fate
}

async fn attempt(invoker: &Invoker, event: Event) -> Fate {
    let Ok(config) = invoker.get(&event.function) else {
        // Deleted while this event was on its way: it stays queued for a later deploy.
        return Fate::GiveBack(event);
    };
    let events = &config.events;
    let inner = &invoker.inner;
    let mut attempt = event.clone();
    attempt.attempts += 1;
    let started = now_ms();
    if started.saturating_sub(event.accepted_ms) > events.max_age().as_millis() as u64 {
        return dead_letter(invoker, event, "EventAgeExceeded").await;
    }
    let mut status = InvocationStatus::of(&attempt, InvocationState::Running);
    status.started_ms = Some(started);
    inner.status.record(status.clone());

    let deadline = event.accepted_ms + events.max_age().as_millis() as u64;
    let result = match invoker.invoke_when_admitted(&event.function, &event.request_id, event.payload_bytes(), Some(deadline)).await {
        Err(InvokerError::Throttled(_)) => return dead_letter(invoker, event, "EventAgeExceeded").await,
        Err(InvokerError::NotFound(_)) => return Fate::GiveBack(event),
        other => other,
    };
    status.finished_ms = Some(now_ms());
    let error = match result {
        Ok(result) => {
            status.duration_ms = Some(result.execution.duration.as_secs_f64() * 1000.0);
            match &result.execution.outcome {
                Outcome::Success(output) => {
                    let mut done = status.with_result(output);
                    done.state = InvocationState::Succeeded;
                    done.error = None;
                    if let Some(destination) = &events.on_success {
                        let record = success_record(&attempt, &invoker.arn(&event.function), result.version, output);
                        send_to_destination(invoker, destination, record).await;
                    }
                    return finish(invoker, &attempt, done).await;
                }
                Outcome::Error(e) => serde_json::from_slice(&e.body()).unwrap_or_default(),
            }
        }
        Err(e) => serde_json::json!({ "errorType": "ServiceException", "errorMessage": e.to_string() }),
    };
    attempt.last_error = Some(error);
    let delay = events.backoff(attempt.attempts);
    let age_then = now_ms().saturating_sub(event.accepted_ms) + delay.as_millis() as u64;
    if attempt.attempts > events.max_retries || age_then > events.max_age().as_millis() as u64 {
        let condition = if attempt.attempts > events.max_retries { "RetriesExhausted" } else { "EventAgeExceeded" };
        return dead_letter(invoker, attempt, condition).await;
    }
    // Recorded before the retry is scheduled, so the retry's own record comes after it.
    let mut queued = InvocationStatus::of(&attempt, InvocationState::Queued);
    queued.next_attempt_ms = Some(now_ms() + delay.as_millis() as u64);
    queued.finished_ms = status.finished_ms;
    inner.status.record(queued);
    if let Err(e) = inner.broker.publish(&QueueRef::function(&event.function), &attempt.to_message(), Some(delay)).await {
        tracing::warn!(request_id = %event.request_id, "cannot schedule the retry, the event will run again: {e}");
        return Fate::GiveBack(event);
    }
    Fate::Settled
}

/// The event ran out of retries or age: into the function's dead-letter queue.
async fn dead_letter(invoker: &Invoker, mut event: Event, condition: &str) -> Fate {
    let inner = &invoker.inner;
    let original = event.clone();
    event.condition = Some(condition.to_string());
    event.dead_lettered_ms = Some(now_ms());
    if let Err(e) = inner.broker.publish(&QueueRef::function_dlq(&event.function), &event.to_message(), None).await {
        tracing::warn!(request_id = %event.request_id, "cannot dead-letter the event, it will run again: {e}");
        return Fate::GiveBack(original);
    }
    inner.metrics.dead_letters.with_label_values(&[&event.function]).inc();
    let mut failed = InvocationStatus::of(&event, InvocationState::Failed);
    failed.finished_ms = event.dead_lettered_ms;
    failed.dead_letter = Some(condition.to_string());
    finish(invoker, &event, failed).await
}

/// Records the final status and calls back.
async fn finish(invoker: &Invoker, event: &Event, status: InvocationStatus) -> Fate {
    let committed = invoker.inner.status.record_durably(status.clone());
    if let Some(url) = &event.callback_url {
        callback::deliver(&invoker.inner.http, url, &status).await;
    }
    Fate::Recorded(committed)
}

async fn settle(delivery: Delivery, function: &str) {
    let id = delivery.message.id.clone();
    if let Err(e) = delivery.ack().await {
        tracing::warn!(function, message = %id, "ack failed, the message will be delivered again: {e}");
    }
}

/// A message in a function queue that is not an event (published there by hand) cannot run;
/// it goes to the dead-letter queue as it is, marked, rather than blocking or vanishing.
async fn quarantine(invoker: &Invoker, function: &str, delivery: Delivery, why: &str) {
    let mut message = delivery.message.clone();
    message.headers.insert("x-skiff-error".into(), why.into());
    match invoker.inner.broker.publish(&QueueRef::function_dlq(function), &message, None).await {
        Ok(()) => settle(delivery, function).await,
        Err(e) => {
            tracing::warn!("cannot quarantine a malformed message: {e}");
            delivery.requeue().await
        }
    }
}

async fn send_to_destination(invoker: &Invoker, destination: &Destination, record: serde_json::Value) {
    let body = bytes::Bytes::from(serde_json::to_vec(&record).expect("json"));
    let sent = match destination {
        Destination::Function(name) => invoker.enqueue(name, body, None).await.map(|_| ()),
        Destination::Queue(queue) => {
            let message = crate::queue::Message {
                id: uuid::Uuid::new_v4().to_string(),
                headers: Default::default(),
                body,
            };
            invoker.inner.broker.publish(&QueueRef::destination(queue), &message, None).await.map_err(InvokerError::Queue)
        }
    };
    if let Err(e) = sent {
        tracing::warn!(%destination, "on-success destination not reached: {e}");
    }
}
