//! One attempt at one event: run it, then make its outcome durable elsewhere (done and
//! recorded, a retry scheduled, dead-lettered) — or give it back to run again.

use super::accept::{admit, publish};
use super::callback;
use super::context::Context;
use super::event::{Event, MAX_DESTINATION_HOPS};
use super::record::success_record;
use crate::error::InvokerError;
use skiff_api::arn::function_arn;
use skiff_api::{now_ms, DeadLetterCondition, Destination, InvocationState, InvocationStatus, VersionRef};
use skiff_state::queue::{Delivery, Message, QueueRef};
use skiff_workers::Outcome;
use tokio::sync::{oneshot, OwnedSemaphorePermit};

/// What became of one event of a delivery.
pub(super) enum Fate {
    /// Its outcome is durable elsewhere (done and recorded, retry scheduled, dead-lettered).
    Settled,
    /// Settled once its final status record is committed.
    Recorded(tokio::sync::oneshot::Receiver<()>),
    /// It must run again: the delivery may not be acked on its account.
    GiveBack(Event),
}

pub(super) async fn run_event(ctx: &Context, delivery: &Delivery, event: Event, slot: oneshot::Receiver<OwnedSemaphorePermit>) -> Fate {
    let slot = slot.await.expect("the slot queue outlives the dispatcher's deliveries");
    let id = event.request_id.clone();
    let fate = attempt(ctx, delivery, event).await;
    drop(slot); // the wait for the status commit holds no execution slot
                // However it ended (done, retried, dead-lettered, or given back), it is not running here.
    ctx.status.not_running(&id);
    fate
}

async fn attempt(ctx: &Context, delivery: &Delivery, event: Event) -> Fate {
    let Some(config) = ctx.registry.get(&event.function).map(|d| d.config.clone()) else {
        // Deleted while this event was on its way: it stays queued for a later deploy.
        return Fate::GiveBack(event);
    };
    let settings = &config.events;
    let inner = ctx;
    let mut attempt = event.clone();
    attempt.attempts += 1;
    let started = now_ms();
    if started.saturating_sub(event.accepted_ms) > settings.max_age().as_millis() as u64 {
        return dead_letter(ctx, event, DeadLetterCondition::EventAgeExceeded).await;
    }
    let mut status = attempt.status(InvocationState::Running);
    status.started_ms = Some(started);
    inner.status.record(status.clone());
    mark_started(delivery, &event).await;

    let deadline = event.accepted_ms + settings.max_age().as_millis() as u64;
    let result = match inner.runner.invoke_when_admitted(&event.function, event.version, &event.request_id, event.payload_bytes(), Some(deadline)).await {
        Err(InvokerError::Throttled(_)) => return dead_letter(ctx, event, DeadLetterCondition::EventAgeExceeded).await,
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
                    if let Some(destination) = &settings.on_success {
                        let arn = function_arn(&inner.region, &event.function);
                        let record = success_record(&attempt, &arn, result.version, output);
                        send_to_destination(ctx, &attempt, destination, record).await;
                    }
                    return finish(ctx, &attempt, done).await;
                }
                Outcome::Error(e) => serde_json::from_slice(&e.body()).unwrap_or_default(),
            }
        }
        Err(e) => serde_json::json!({ "errorType": "ServiceException", "errorMessage": e.to_string() }),
    };
    attempt.last_error = Some(error);
    let delay = settings.backoff(attempt.attempts);
    let age_then = now_ms().saturating_sub(event.accepted_ms) + delay.as_millis() as u64;
    if attempt.attempts > settings.max_retries || age_then > settings.max_age().as_millis() as u64 {
        let condition = if attempt.attempts > settings.max_retries { DeadLetterCondition::RetriesExhausted } else { DeadLetterCondition::EventAgeExceeded };
        return dead_letter(ctx, attempt, condition).await;
    }
    // Recorded before the retry is scheduled, so the retry's own record comes after it.
    let mut queued = attempt.status(InvocationState::Queued);
    queued.next_attempt_ms = Some(now_ms() + delay.as_millis() as u64);
    queued.finished_ms = status.finished_ms;
    inner.status.record(queued);
    if let Err(e) = inner.queue.publish(&QueueRef::function(&event.function), &attempt.to_message(), Some(delay)).await {
        tracing::warn!(request_id = %event.request_id, "cannot schedule the retry, the event will run again: {e}");
        return Fate::GiveBack(event);
    }
    Fate::Settled
}

/// Counts the run durably before it starts, so a crash from here on shows in the next
/// delivery's `earlier_runs`. A store that cannot write it (a full disk) does not hold the run
/// up: the count is then lost only if the server also crashes before the run settles.
async fn mark_started(delivery: &Delivery, event: &Event) {
    if let Err(e) = delivery.started().await {
        if !e.is_unwritable() {
            tracing::warn!(request_id = %event.request_id, "the start of a run is not counted: {e}");
        }
    }
}

/// The event ran out of retries or age: into the function's dead-letter queue.
async fn dead_letter(ctx: &Context, mut event: Event, condition: DeadLetterCondition) -> Fate {
    let inner = ctx;
    let original = event.clone();
    event.condition = Some(condition);
    event.dead_lettered_ms = Some(now_ms());
    if let Err(e) = inner.queue.publish(&QueueRef::function_dlq(&event.function), &event.to_message(), None).await {
        tracing::warn!(request_id = %event.request_id, "cannot dead-letter the event, it will run again: {e}");
        return Fate::GiveBack(original);
    }
    inner.metrics.dead_letters.with_label_values(&[&event.function]).inc();
    let mut failed = event.status(InvocationState::Failed);
    failed.finished_ms = event.dead_lettered_ms;
    failed.dead_letter = Some(condition);
    finish(ctx, &event, failed).await
}

/// Records the final status and queues its callback (sent by the deliverer, not here: a slow
/// receiver must not hold this event's execution slot).
async fn finish(ctx: &Context, event: &Event, status: InvocationStatus) -> Fate {
    let committed = ctx.status.record_durably(status.clone());
    if let Some(url) = &event.callback_url {
        if let Err(e) = callback::enqueue(&*ctx.queue, url, &status).await {
            tracing::warn!(request_id = %event.request_id, "cannot queue the callback, it is not sent: {e}");
        }
    }
    Fate::Recorded(committed)
}

/// Sends an on-success record on. To a function it is a new event one hop further down the
/// chain; past [`MAX_DESTINATION_HOPS`] that event is dead-lettered instead of run, which
/// stops a loop of destinations (A → B → A) that no single deploy could see.
async fn send_to_destination(ctx: &Context, from: &Event, destination: &Destination, record: Vec<u8>) {
    let body = bytes::Bytes::from(record);
    let sent = match destination {
        Destination::Function(name) => match admit(ctx, name, VersionRef::Latest, body, None).await {
            Ok(next) => {
                let next = Event { hops: from.hops + 1, ..next };
                if next.hops > MAX_DESTINATION_HOPS {
                    stop_loop(ctx, from, next).await;
                    return;
                }
                publish(ctx, next).await.map(|_| ())
            }
            Err(e) => Err(e),
        },
        Destination::Queue(queue) => {
            let message = Message { id: uuid::Uuid::new_v4().to_string(), headers: Default::default(), body };
            ctx.queue.publish(&QueueRef::destination(queue), &message, None).await.map_err(InvokerError::Queue)
        }
    };
    if let Err(e) = sent {
        tracing::warn!(%destination, "on-success destination not reached: {e}");
    }
}

async fn stop_loop(ctx: &Context, from: &Event, stopped: Event) {
    tracing::warn!(
        function = %from.function,
        destination = %stopped.function,
        request_id = %from.request_id,
        "a chain of on-success destinations reached {MAX_DESTINATION_HOPS} hops: stopped, its next event is dead-lettered"
    );
    ctx.metrics.destination_loops.with_label_values(&[&stopped.function]).inc();
    let _ = dead_letter(ctx, stopped, DeadLetterCondition::RecursiveInvocationLoop).await;
}
