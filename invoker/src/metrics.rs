//! Prometheus metrics of the invoker. Label sets are bounded by the deployed functions: a
//! deleted function's series are removed.

use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};
use skiff_api::ThrottleScope;
use skiff_workers::ErrorType;

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
    pub(crate) reruns: IntCounterVec,
    pub(crate) destination_loops: IntCounterVec,
    pub(crate) callbacks: IntCounterVec,
    pub(crate) trigger_messages: IntCounterVec,
    storage_writable: IntGaugeVec,
    storage_write_failures: IntCounterVec,
    storage_refresh: std::sync::Mutex<()>,
}

const LATENCY_BUCKETS: &[f64] =
    &[0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0];

/// Registers each metric as it is made, so one list names them all.
struct Maker {
    registry: Registry,
}

impl Maker {
    fn add<C: prometheus::core::Collector + Clone + 'static>(&self, metric: prometheus::Result<C>) -> C {
        let metric = metric.expect("valid metric");
        self.registry.register(Box::new(metric.clone())).expect("metric names are unique");
        metric
    }

    fn counter(&self, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
        self.add(IntCounterVec::new(Opts::new(name, help), labels))
    }

    fn gauge(&self, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
        self.add(IntGaugeVec::new(Opts::new(name, help), labels))
    }

    fn histogram(&self, name: &str, help: &str) -> HistogramVec {
        self.add(HistogramVec::new(HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()), &["function"]))
    }
}

impl Metrics {
    /// With `node`, every series carries `node="NODE"`, so a cluster's scrapes can be told
    /// apart; a single node's series stay as they always were.
    pub fn new(node: Option<&str>) -> Self {
        let labels = node.map(|n| std::collections::HashMap::from([("node".to_string(), n.to_string())]));
        let m = Maker { registry: Registry::new_custom(None, labels).expect("a valid node label") };
        let f = &["function"];
        Self {
            invocations: m.counter("skiff_invocations_total", "Invocations that ran, by function and outcome.", &["function", "outcome"]),
            duration: m.histogram("skiff_invocation_duration_seconds", "Execution time of invocations."),
            throttles: m.counter("skiff_throttles_total", "Invocations refused by a concurrency limit.", &["function", "scope"]),
            cold_starts: m.counter("skiff_cold_starts_total", "Invocations that had to initialise an execution environment.", f),
            init_duration: m.histogram("skiff_init_duration_seconds", "Initialisation time of cold starts."),
            concurrent: m.gauge("skiff_concurrent_executions", "Executions in progress, by function.", f),
            concurrent_total: m.add(IntGauge::new("skiff_executions_in_progress", "Executions in progress across all functions.")),
            deployed: m.add(IntGauge::new("skiff_functions_deployed", "Functions currently deployed.")),
            warm_containers: m.gauge("skiff_warm_containers", "Idle containers ready to serve a call without a cold start.", f),
            events_accepted: m.counter("skiff_async_events_accepted_total", "Asynchronous invocations accepted (durable in the queue).", f),
            dead_letters: m.counter("skiff_dead_letters_total", "Events and trigger messages sent to a dead-letter queue.", f),
            reruns: m.counter(
                "skiff_async_runs_cut_off_total",
                "Runs of asynchronous events that were cut off (a crash, a broker outage) and start again: at-least-once delivery's duplicates.",
                f,
            ),
            callbacks: m.counter("skiff_callbacks_total", "Callback tries by outcome: delivered, retried, given_up, refused.", &["outcome"]),
            destination_loops: m.counter(
                "skiff_destination_loops_stopped_total",
                "Chains of on-success destinations stopped at their bound (the stopped event is dead-lettered).",
                f,
            ),
            trigger_messages: m.counter(
                "skiff_trigger_messages_total",
                "Queue-trigger messages by outcome (acked, retried, dead_lettered).",
                &["function", "outcome"],
            ),
            storage_writable: m.gauge(
                "skiff_storage_writable",
                "Whether each storage file (queue, status, config) takes writes now (1) or not (0).",
                &["store"],
            ),
            storage_write_failures: m.counter(
                "skiff_storage_write_failures_total",
                "Failures of a storage file to write (a full or failing disk); each starts or extends an outage in which writes are refused.",
                &["store"],
            ),
            storage_refresh: std::sync::Mutex::default(),
            registry: m.registry,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        self.refresh_storage();
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out).expect("encoding to memory");
        String::from_utf8(out).expect("prometheus text is UTF-8")
    }

    /// Storage health is kept by the files themselves; it is copied in at scrape time.
    fn refresh_storage(&self) {
        // Two scrapes at once would both add the same difference to the counter.
        let _one_at_a_time = self.storage_refresh.lock().unwrap_or_else(|p| p.into_inner());
        for store in skiff_state::health::stores() {
            self.storage_writable.with_label_values(&[store.store]).set(i64::from(store.writable));
            let failures = self.storage_write_failures.with_label_values(&[store.store]);
            failures.inc_by(store.write_failures.saturating_sub(failures.get()));
        }
    }

    /// Drops every series labelled with `function`.
    pub(crate) fn forget(&self, function: &str) {
        let outcomes = std::iter::once("success").chain(ErrorType::ALL.iter().map(|t| t.as_str()));
        for outcome in outcomes {
            let _ = self.invocations.remove_label_values(&[function, outcome]);
        }
        for scope in ThrottleScope::ALL {
            let _ = self.throttles.remove_label_values(&[function, scope.as_str()]);
        }
        let _ = self.cold_starts.remove_label_values(&[function]);
        let _ = self.duration.remove_label_values(&[function]);
        let _ = self.init_duration.remove_label_values(&[function]);
        let _ = self.concurrent.remove_label_values(&[function]);
        let _ = self.warm_containers.remove_label_values(&[function]);
        let _ = self.events_accepted.remove_label_values(&[function]);
        let _ = self.dead_letters.remove_label_values(&[function]);
        let _ = self.reruns.remove_label_values(&[function]);
        for outcome in TriggerOutcome::ALL {
            let _ = self.trigger_messages.remove_label_values(&[function, outcome.as_str()]);
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new(None)
    }
}

/// What became of a trigger's message (the `outcome` label of `skiff_trigger_messages_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TriggerOutcome {
    Acked,
    Retried,
    DeadLettered,
}

impl TriggerOutcome {
    const ALL: [TriggerOutcome; 3] = [TriggerOutcome::Acked, TriggerOutcome::Retried, TriggerOutcome::DeadLettered];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            TriggerOutcome::Acked => "acked",
            TriggerOutcome::Retried => "retried",
            TriggerOutcome::DeadLettered => "dead_lettered",
        }
    }
}
