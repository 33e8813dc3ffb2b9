//! Coalescing accepted events into broker messages. Events for one function that arrive while
//! earlier publishes of that function are still waiting for their confirm are published
//! together, as one message holding a JSON array of events, and each caller is answered when
//! that message is confirmed. Nothing waits on purpose: an event arriving at an idle lane is
//! published at once, alone; batches form only under load, from events that would otherwise
//! queue behind the confirms. Durability per event is unchanged (each 202 still follows the
//! confirm of the message holding its event); what changes is the broker's work per event.
//!
//! Consumers take such a message apart (see the dispatcher). Retries, dead letters and
//! redrives always carry single events.

use super::event::Event;
use dashmap::DashMap;
use skiff_state::queue::{Message, QueueError, QueueRef, SharedQueue};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// Publishes of one function in flight at once; more events wait and join the next batch. Two
/// measured better than four: bigger batches, less broker work per event, and a lower p99 at
/// half rate (BENCHMARKS.md).
const MAX_IN_FLIGHT: usize = 2;
/// Most events, and bytes, in one message: bounds what a consumer holds per prefetched message.
const MAX_EVENTS: usize = 32;
const MAX_BYTES: usize = 256 * 1024;

type Reply = oneshot::Sender<Result<(), QueueError>>;

#[derive(Default)]
struct Lane {
    waiting: Vec<(Event, Reply)>,
    in_flight: usize,
}

type Lanes = Arc<DashMap<String, Arc<Mutex<Lane>>>>;

/// A lane exists only while its function has publishes waiting or in flight: the last flush to
/// go idle removes it, so functions deleted or no longer called leave nothing behind. A caller
/// that took a lane just before it was removed still publishes through it (the flush works on
/// the lane, not the map); meanwhile a second lane may form, which only allows a few more
/// publishes in flight for a moment.
#[derive(Default)]
pub(crate) struct Coalescer {
    lanes: Lanes,
}

impl Coalescer {
    /// Returns once `event` is durable in its function's queue.
    pub(crate) async fn publish(&self, broker: &SharedQueue, event: Event) -> Result<(), QueueError> {
        let function = event.function.clone();
        let lane = self.lanes.entry(function.clone()).or_default().clone();
        let (tx, rx) = oneshot::channel();
        let lead = {
            let mut l = lane.lock().expect("lock");
            l.waiting.push((event, tx));
            let lead = l.in_flight < MAX_IN_FLIGHT;
            if lead {
                l.in_flight += 1;
            }
            lead
        };
        if lead {
            tokio::spawn(flush(broker.clone(), self.lanes.clone(), function, lane));
        }
        rx.await.unwrap_or_else(|_| Err(QueueError::Unavailable("the publisher stopped".into())))
    }
}

/// Publishes what is waiting in the lane, batch by batch, until nothing is.
async fn flush(broker: SharedQueue, lanes: Lanes, function: String, lane: Arc<Mutex<Lane>>) {
    let queue = QueueRef::function(&function);
    loop {
        let batch = {
            let mut l = lane.lock().expect("lock");
            if l.waiting.is_empty() {
                l.in_flight -= 1;
                let idle = l.in_flight == 0;
                drop(l);
                if idle {
                    lanes.remove_if(&function, |_, current| {
                        let c = current.lock().expect("lock");
                        Arc::ptr_eq(current, &lane) && c.in_flight == 0 && c.waiting.is_empty()
                    });
                }
                return;
            }
            take_batch(&mut l.waiting)
        };
        let (message, replies) = encode(batch);
        let result = broker.publish(&queue, &message, None).await;
        for reply in replies {
            let _ = reply.send(result.clone());
        }
    }
}

fn take_batch(waiting: &mut Vec<(Event, Reply)>) -> Vec<(Vec<u8>, Event, Reply)> {
    let mut batch = Vec::new();
    let mut bytes = 0;
    let mut rest = Vec::new();
    for (event, reply) in waiting.drain(..) {
        let json = serde_json::to_vec(&event).expect("json");
        if !batch.is_empty() && (batch.len() >= MAX_EVENTS || bytes + json.len() > MAX_BYTES) {
            rest.push((event, reply));
            continue;
        }
        bytes += json.len();
        batch.push((json, event, reply));
    }
    *waiting = rest;
    batch
}

/// One event as itself; several as a JSON array (`[event, ...]`).
fn encode(batch: Vec<(Vec<u8>, Event, Reply)>) -> (Message, Vec<Reply>) {
    if batch.len() == 1 {
        let (_, event, reply) = batch.into_iter().next().expect("one");
        return (event.to_message(), vec![reply]);
    }
    let mut body = Vec::with_capacity(batch.iter().map(|b| b.0.len() + 1).sum::<usize>() + 1);
    body.push(b'[');
    let mut replies = Vec::with_capacity(batch.len());
    let mut id = String::new();
    for (i, (json, event, reply)) in batch.into_iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(&json);
        if i == 0 {
            id = format!("batch-{}", event.request_id);
        }
        replies.push(reply);
    }
    body.push(b']');
    (Message { id, headers: Default::default(), body: body.into() }, replies)
}

/// The events in a function-queue message: one event, or a coalesced batch.
pub(crate) fn decode(message: &Message) -> Result<Vec<Event>, serde_json::Error> {
    match message.body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => serde_json::from_slice(&message.body),
        _ => Event::from_message(message).map(|e| vec![e]),
    }
}

#[cfg(test)]
mod fuzz {
    use skiff_state::queue::Message;

    /// Input: the body of a message in a function's queue (one event or a JSON array of them).
    #[test]
    fn queued_messages_never_panic_the_decoder() {
        skiff_fuzz::run("event_message", skiff_fuzz::ROUNDS, |input| {
            let message = Message { id: "m".into(), headers: Default::default(), body: bytes::Bytes::copy_from_slice(input) };
            let _ = super::decode(&message);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str) -> Event {
        let payload = serde_json::value::RawValue::from_string(format!("{{\"id\":\"{id}\"}}")).unwrap();
        Event { accepted_ms: 1, ..Event::accepted(id.into(), "f".into(), skiff_api::VersionRef::Latest, Some(payload), None) }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn lanes_go_away_once_their_publishes_are_done() {
        let dir = tempfile::tempdir().unwrap();
        let broker = skiff_state::queue::embedded(dir.path()).unwrap();
        let coalescer = Arc::new(Coalescer::default());
        let publishes: Vec<_> = (0..50)
            .map(|i| {
                let (coalescer, broker) = (coalescer.clone(), broker.clone());
                let mut e = event(&format!("e{i}"));
                e.function = format!("f{}", i % 5);
                tokio::spawn(async move { coalescer.publish(&broker, e).await })
            })
            .collect();
        for p in publishes {
            p.await.unwrap().unwrap();
        }
        // The last flush removes its lane right after answering its callers.
        for _ in 0..100 {
            if coalescer.lanes.is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(coalescer.lanes.len(), 0, "idle lanes are dropped");
        let stored = broker.browse(&QueueRef::function("f3"), 100).await.unwrap().messages;
        let events: usize = stored.iter().map(|m| decode(m).unwrap().len()).sum();
        assert_eq!(events, 10, "every event of f3 was published once");
    }

    #[test]
    fn batches_round_trip_and_respect_their_bounds() {
        let mut waiting: Vec<(Event, Reply)> = (0..40).map(|i| (event(&format!("e{i}")), oneshot::channel().0)).collect();
        let batch = take_batch(&mut waiting);
        assert_eq!((batch.len(), waiting.len()), (MAX_EVENTS, 8));
        let (message, replies) = encode(batch);
        assert_eq!(replies.len(), MAX_EVENTS);
        let events = decode(&message).unwrap();
        assert_eq!(events.len(), MAX_EVENTS);
        assert_eq!(events[31].request_id, "e31");
        assert_eq!(events[5].payload_bytes(), bytes::Bytes::from_static(b"{\"id\":\"e5\"}"));

        let (single, _) = encode(take_batch(&mut vec![(event("solo"), oneshot::channel().0)]));
        assert_eq!(single.id, "solo");
        assert_eq!(decode(&single).unwrap()[0].request_id, "solo");
    }
}
