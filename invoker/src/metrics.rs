//! Prometheus metrics of the invoker. Label sets are bounded by the deployed functions: a
//! deleted function's series are removed.

use skiff_workers::ErrorType;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    pub(crate) invocations: IntCounterVec,
    pub(crate) duration: HistogramVec,
    pub(crate) throttles: IntCounterVec,
    pub(crate) cold_starts: IntCounterVec,
    pub(crate) init_duration: HistogramVec,
    pub(crate) concurrent: IntGaugeVec,
    pub(crate) concurrent_total: IntGauge,
    pub(crate) deployed: IntGauge,
    pub(crate) warm_containers: IntGaugeVec,
    pub(crate) events_accepted: IntCounterVec,
    pub(crate) dead_letters: IntCounterVec,
    pub(crate) trigger_messages: IntCounterVec,
}

const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
    10.0, 30.0, 60.0, 300.0, 900.0,
];

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let invocations = IntCounterVec::new(
            Opts::new("skiff_invocations_total", "Invocations that ran, by function and outcome."),
            &["function", "outcome"],
        )
        .expect("valid metric");
        let duration = HistogramVec::new(
            HistogramOpts::new("skiff_invocation_duration_seconds", "Execution time of invocations.")
                .buckets(LATENCY_BUCKETS.to_vec()),
            &["function"],
        )
        .expect("valid metric");
        let throttles = IntCounterVec::new(
            Opts::new("skiff_throttles_total", "Invocations refused by a concurrency limit."),
            &["function", "scope"],
        )
        .expect("valid metric");
        let cold_starts = IntCounterVec::new(
            Opts::new("skiff_cold_starts_total", "Invocations that had to initialise an execution environment."),
            &["function"],
        )
        .expect("valid metric");
        let init_duration = HistogramVec::new(
            HistogramOpts::new("skiff_init_duration_seconds", "Initialisation time of cold starts.")
                .buckets(LATENCY_BUCKETS.to_vec()),
            &["function"],
        )
        .expect("valid metric");
        let concurrent = IntGaugeVec::new(
            Opts::new("skiff_concurrent_executions", "Executions in progress, by function."),
            &["function"],
        )
        .expect("valid metric");
        let concurrent_total = IntGauge::new(
            "skiff_executions_in_progress",
            "Executions in progress across all functions.",
        )
        .expect("valid metric");
        let deployed = IntGauge::new("skiff_functions_deployed", "Functions currently deployed.")
            .expect("valid metric");
        let warm_containers = IntGaugeVec::new(
            Opts::new("skiff_warm_containers", "Idle containers ready to serve a call without a cold start."),
            &["function"],
        )
        .expect("valid metric");
        let events_accepted = IntCounterVec::new(
            Opts::new("skiff_async_events_accepted_total", "Asynchronous invocations accepted (durable in the queue)."),
            &["function"],
        )
        .expect("valid metric");
        let dead_letters = IntCounterVec::new(
            Opts::new("skiff_dead_letters_total", "Events and trigger messages sent to a dead-letter queue."),
            &["function"],
        )
        .expect("valid metric");
        let trigger_messages = IntCounterVec::new(
            Opts::new("skiff_trigger_messages_total", "Queue-trigger messages by outcome (acked, retried, dead_lettered)."),
            &["function", "outcome"],
        )
        .expect("valid metric");
        for c in [
            Box::new(invocations.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(duration.clone()),
            Box::new(throttles.clone()),
            Box::new(cold_starts.clone()),
            Box::new(init_duration.clone()),
            Box::new(concurrent.clone()),
            Box::new(concurrent_total.clone()),
            Box::new(deployed.clone()),
            Box::new(warm_containers.clone()),
            Box::new(events_accepted.clone()),
            Box::new(dead_letters.clone()),
            Box::new(trigger_messages.clone()),
        ] {
            registry.register(c).expect("metric names are unique");
        }
        Self {
            registry,
            invocations,
            duration,
            throttles,
            cold_starts,
            init_duration,
            concurrent,
            concurrent_total,
            deployed,
            warm_containers,
            events_accepted,
            dead_letters,
            trigger_messages,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out).expect("encoding to memory");
        String::from_utf8(out).expect("prometheus text is UTF-8")
    }

    /// Drops every series labelled with `function`.
    pub(crate) fn forget(&self, function: &str) {
        let outcomes = std::iter::once("success").chain(ErrorType::ALL.iter().map(|t| t.as_str()));
        for outcome in outcomes {
            let _ = self.invocations.remove_label_values(&[function, outcome]);
        }
        for scope in ["function", "global"] {
            let _ = self.throttles.remove_label_values(&[function, scope]);
        }
        let _ = self.cold_starts.remove_label_values(&[function]);
        let _ = self.duration.remove_label_values(&[function]);
        let _ = self.init_duration.remove_label_values(&[function]);
        let _ = self.concurrent.remove_label_values(&[function]);
        let _ = self.warm_containers.remove_label_values(&[function]);
        let _ = self.events_accepted.remove_label_values(&[function]);
        let _ = self.dead_letters.remove_label_values(&[function]);
        for outcome in ["acked", "retried", "dead_lettered"] {
            let _ = self.trigger_messages.remove_label_values(&[function, outcome]);
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
