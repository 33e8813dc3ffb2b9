//! The deliverer: consumes the callback queue and sends each callback once; a failure goes back
//! to the queue with a delay for the next try, until [`ATTEMPTS`] are spent.

use super::target::{literal, redact, PolicyResolver};
use super::{CallbackJob, ATTEMPTS};
use crate::callback_policy::CallbackPolicy;
use crate::metrics::Metrics;
use reqwest::Url;
use skiff_state::queue::{Delivery, QueueRef, SharedQueue};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// How long a receiver has to answer one try.
const TIMEOUT: Duration = Duration::from_secs(5);
/// Callbacks being sent at once by this node.
const IN_FLIGHT: u16 = 32;

/// What the deliverer needs.
pub(crate) struct Deliverer {
    pub(crate) queue: SharedQueue,
    pub(crate) policy: Arc<CallbackPolicy>,
    pub(crate) metrics: Arc<Metrics>,
}

/// Delivers callbacks until `stop` changes; sends in flight finish first.
pub(crate) async fn start(deliverer: Deliverer, mut stop: watch::Receiver<bool>) {
    let client = client(deliverer.policy.clone());
    let deliverer = Arc::new(deliverer);
    let mut consumer = deliverer.queue.consume(QueueRef::callbacks(), IN_FLIGHT);
    let mut sending = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            delivery = consumer.next() => match delivery {
                Some(d) => { sending.spawn(send(deliverer.clone(), client.clone(), d)); }
                None => break,
            },
            Some(_) = sending.join_next(), if !sending.is_empty() => {}
        }
    }
    drop(consumer);
    while sending.join_next().await.is_some() {}
}

fn client(policy: Arc<CallbackPolicy>) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(Arc::new(PolicyResolver(policy)))
        .build()
        .expect("HTTP client")
}

/// What became of one try.
enum Sent {
    Delivered,
    Failed(String),
    /// The URL may not be called (the policy changed since it was accepted): no retry helps.
    Refused(String),
}

async fn send(deliverer: Arc<Deliverer>, client: reqwest::Client, delivery: Delivery) {
    if !delivery.authentic {
        tracing::warn!(message = %delivery.message.id, "dropped a callback this server did not enqueue (its signature does not hold)");
        return settle(delivery).await;
    }
    let Ok(mut job) = serde_json::from_slice::<CallbackJob>(&delivery.message.body) else {
        tracing::warn!(message = %delivery.message.id, "dropped a malformed message from the callback queue");
        return settle(delivery).await;
    };
    let outcome = try_once(&client, &deliverer.policy, &job).await;
    job.tries += 1;
    let counted = |outcome: &str| deliverer.metrics.callbacks.with_label_values(&[outcome]).inc();
    match outcome {
        Sent::Delivered => counted("delivered"),
        Sent::Refused(why) => {
            counted("refused");
            tracing::warn!(request_id = %job.status.request_id, "callback not sent: {why}");
        }
        Sent::Failed(why) if job.tries >= ATTEMPTS => {
            counted("given_up");
            tracing::warn!(request_id = %job.status.request_id, tries = job.tries, "callback given up: {why}");
        }
        Sent::Failed(why) => {
            counted("retried");
            tracing::info!(request_id = %job.status.request_id, tries = job.tries, "callback failed, will retry: {why}");
            let delay = Duration::from_secs(1 << (job.tries - 1).min(6));
            if let Err(e) = deliverer.queue.publish(&QueueRef::callbacks(), &job.to_message(), Some(delay)).await {
                tracing::warn!("cannot schedule the callback's next try, it is sent again now: {e}");
                return delivery.requeue().await;
            }
        }
    }
    settle(delivery).await;
}

async fn try_once(client: &reqwest::Client, policy: &CallbackPolicy, job: &CallbackJob) -> Sent {
    let Ok(url) = Url::parse(&job.url) else { return Sent::Refused("unparsable URL".into()) };
    let shown = redact(&url);
    if let Some(ip) = literal(&url).filter(|ip| !policy.allows(*ip)) {
        return Sent::Refused(format!("{shown}: {ip} is not an allowed address"));
    }
    let body = serde_json::to_vec(&job.status).expect("json");
    let sent = client.post(url).header("content-type", "application/json").header("x-skiff-request-id", &job.status.request_id).body(body).send().await;
    match sent {
        Ok(resp) if resp.status().is_success() => Sent::Delivered,
        Ok(resp) => Sent::Failed(format!("{shown} answered {}", resp.status())),
        Err(e) => Sent::Failed(format!("{shown}: {}", error_chain(&e))),
    }
}

/// reqwest's message plus its causes, with no URL in it (it may carry credentials).
fn error_chain(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() { "timed out".to_string() } else { "request failed".to_string() };
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

async fn settle(delivery: Delivery) {
    if let Err(e) = delivery.ack().await {
        tracing::warn!("callback ack failed, it may be sent again: {e}");
    }
}
