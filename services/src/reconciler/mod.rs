//! One task per service that keeps what runs equal to what is desired, like ECS's service
//! scheduler: every tick it health-checks its copies, replaces the ones that died or failed, rolls
//! a new revision out within the deployment's bounds (minimum healthy, maximum surge), drains
//! copies before stopping them, rolls a revision that never becomes healthy back, and applies
//! the autoscaling policy.
//!
//! Invariants:
//! - a copy takes traffic only after passing its health check (`healthy_threshold` in a row),
//!   and leaves rotation before it is stopped; it is stopped only once its in-flight count is
//!   zero (or the drain timeout passed), so rollouts and scale-ins drop no request;
//! - copies are found again by label after a restart and adopted, never duplicated: adopted
//!   copies count towards the desired number from the first tick;
//! - a revision whose copies keep failing before ever becoming healthy is rolled back once the
//!   failures reach the circuit breaker's threshold (ECS's: half the desired count, 3..200).

mod copy;
mod probe;
mod rollout;
mod start;

use crate::autoscale::Autoscaler;
use crate::endpoints::Endpoint;
use crate::shared::{CopiesReport, Shared, Stop};
use crate::Services;
use copy::{short, Copy, Phase};
use rollout::{RolloutProgress, Verdict};
use skiff_api::service::{RolloutState, ServiceConfig};
use skiff_api::now_ms;
use skiff_state::lease::Lease;
use skiff_workers::container::ImageSpec;
use skiff_workers::service::ServiceRuntime;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

const TICK: Duration = Duration::from_millis(100);
/// After leaving rotation, a copy waits at least this long before it may be stopped, so a
/// request that picked it just before it left still finds it running.
const SETTLE: Duration = Duration::from_millis(250);
/// Crash-loop backoff: the delay before the next start doubles with each copy that failed
/// before ever becoming healthy, from this up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// SIGTERM-to-SIGKILL grace when stopping a drained copy.
const STOP_GRACE_S: i32 = 10;

pub(crate) struct Reconciler {
    services: Services,
    shared: Arc<Shared>,
    runtime: ServiceRuntime,
    http: reqwest::Client,
    copies: Vec<Copy>,
    images: HashMap<String, ImageSpec>,
    /// Copies that failed before ever becoming healthy, in a row.
    crash_loop: u32,
    next_start: Instant,
    /// The revision the current rollout is for, and how many of its copies failed.
    rollout: RolloutProgress,
    autoscaler: Autoscaler,
    exits_tx: mpsc::UnboundedSender<String>,
    exits: mpsc::UnboundedReceiver<String>,
    last_error: Option<String>,
}

impl Reconciler {
    pub(crate) fn new(services: Services, shared: Arc<Shared>, runtime: ServiceRuntime, http: reqwest::Client) -> Self {
        let (exits_tx, exits) = mpsc::unbounded_channel();
        let revision = shared.config.borrow().revision;
        Self {
            services,
            shared,
            runtime,
            http,
            copies: Vec::new(),
            images: HashMap::new(),
            crash_loop: 0,
            next_start: Instant::now(),
            rollout: RolloutProgress { revision, failures: 0 },
            autoscaler: Autoscaler::new(Instant::now()),
            exits_tx,
            exits,
            last_error: None,
        }
    }

    /// Runs until `stop` says so, acting only while `lease` is held (a node that loses it
    /// leaves the copies to the new holder). On [`Stop::Delete`] every copy is stopped; on
    /// [`Stop::Shutdown`] copies keep running for the next holder to adopt.
    pub(crate) async fn run(mut self, mut lease: Lease, mut stop: tokio::sync::watch::Receiver<Option<Stop>>) {
        tokio::select! {
            held = lease.held() => if !held { return },
            _ = stop.wait_for(Option::is_some) => return,
        }
        self.adopt().await;
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = self.shared.wake.notified() => {}
                Some(id) = self.exits.recv() => self.exited(&id),
                _ = stop.changed() => {}
            }
            let stopping = *stop.borrow();
            match stopping {
                Some(Stop::Delete) => return self.remove_all().await,
                Some(Stop::Shutdown) => return,
                None if !lease.is_held() => {
                    tracing::warn!(service = %self.shared.route.name, "lease lost: no longer reconciling");
                    return;
                }
                None => self.step().await,
            }
        }
    }

    /// Finds the copies an earlier server left running: running ones are adopted (and checked
    /// before they take traffic), stopped ones removed.
    async fn adopt(&mut self) {
        let name = self.shared.route.name.clone();
        let incarnation = self.shared.config.borrow().created_ms;
        let found = match self.runtime.list(Some(&name)).await {
            Ok(found) => found,
            Err(e) => {
                self.last_error = Some(format!("listing copies: {e}"));
                return;
            }
        };
        for c in found {
            match (c.running && c.incarnation == incarnation, c.ip) {
                (true, Some(ip)) => {
                    self.watch_exit(&c.id);
                    self.copies.push(Copy::new(c.id, c.revision, SocketAddr::new(ip, c.port), true));
                }
                _ => {
                    let _ = self.runtime.stop(&c.id, 0).await;
                }
            }
        }
        if !self.copies.is_empty() {
            tracing::info!(service = %name, adopted = self.copies.len(), "adopted running copies");
        }
    }

    fn watch_exit(&self, id: &str) {
        let runtime = self.runtime.clone();
        let tx = self.exits_tx.clone();
        let id = id.to_string();
        tokio::spawn(async move {
            runtime.wait_stopped(&id).await;
            let _ = tx.send(id);
        });
    }

    async fn step(&mut self) {
        let config = self.shared.config.borrow().clone();
        if config.revision != self.rollout.revision {
            self.rollout = RolloutProgress { revision: config.revision, failures: 0 };
            self.crash_loop = 0;
            self.next_start = Instant::now();
        }
        self.shared.route.set_request_timeout(Duration::from_millis(config.request_timeout_ms));
        self.probe(&config).await;
        self.finish_drains();
        self.converge(&config).await;
        self.autoscale(&config).await;
        self.check_rollout(&config).await;
        self.publish();
    }

    /// A copy's container stopped by itself (crash, OOM kill, `docker kill`).
    fn exited(&mut self, id: &str) {
        if let Some(i) = self.copies.iter().position(|c| c.id == id) {
            let copy = self.copies.remove(i);
            if !copy.phase.is_draining() {
                self.failed(&copy.id, copy.revision, copy.proven, "its container stopped");
            }
            self.release(copy, 0);
        }
    }

    /// Counts a failure against the crash loop and the rollout when the copy never proved itself.
    fn failed(&mut self, id: &str, revision: u64, proven: bool, why: &str) {
        tracing::warn!(service = %self.shared.route.name, container = %short(id), revision, "copy failed: {why}");
        self.last_error = Some(format!("copy {} (revision {revision}) failed: {why}", short(id)));
        if !proven {
            self.unproven_failure(revision);
        }
    }

    /// A copy of `revision` failed without ever serving (or could not even start): back off,
    /// and count it against the revision's rollout.
    fn unproven_failure(&mut self, revision: u64) {
        self.crash_loop += 1;
        let backoff = FIRST_BACKOFF.saturating_mul(1 << (self.crash_loop - 1).min(16)).min(MAX_BACKOFF);
        self.next_start = Instant::now() + backoff;
        if revision == self.rollout.revision {
            self.rollout.failures += 1;
        }
    }

    /// Takes a copy out of rotation and stops its container in the background.
    fn release(&self, copy: Copy, grace_s: i32) {
        self.shared.route.remove(&copy.id);
        let runtime = self.runtime.clone();
        tokio::spawn(async move {
            if let Err(e) = runtime.stop(&copy.id, grace_s).await {
                tracing::warn!(container = %short(&copy.id), "stopping a service copy: {e}");
            }
        });
    }

    async fn probe(&mut self, config: &ServiceConfig) {
        let health = &config.spec.health;
        let now = Instant::now();
        let due: Vec<(usize, SocketAddr)> = self
            .copies
            .iter()
            .enumerate()
            .filter(|(_, c)| c.next_probe <= now && !c.phase.is_draining())
            .filter_map(|(i, c)| c.addr.map(|a| (i, a)))
            .collect();
        if due.is_empty() {
            return;
        }
        let addrs: Vec<SocketAddr> = due.iter().map(|(_, a)| *a).collect();
        let results = probe::check_all(&self.http, health, &addrs).await;
        let mut failed = Vec::new();
        for ((i, addr), ok) in due.into_iter().zip(results) {
            match probe::record(&mut self.copies[i], ok, health) {
                probe::Verdict::BecameHealthy => {
                    let copy = &mut self.copies[i];
                    let endpoint = Endpoint::new(copy.id.clone(), addr, copy.revision);
                    copy.endpoint = Some(endpoint.clone());
                    self.shared.route.add(endpoint);
                    self.crash_loop = 0;
                }
                probe::Verdict::Failed => failed.push(self.copies[i].id.clone()),
                probe::Verdict::Unchanged => {}
            }
        }
        for id in failed {
            let Some(i) = self.copies.iter().position(|c| c.id == id) else { continue };
            let c = &self.copies[i];
            let (serving, revision, proven) = (c.phase == Phase::Healthy, c.revision, c.proven);
            self.failed(&id, revision, proven, "health check failed");
            if serving {
                // Out of rotation at once; requests it is serving may still finish.
                self.drain(&id);
            } else {
                let copy = self.copies.remove(i);
                self.release(copy, 0);
            }
        }
    }

    /// Stops draining copies once their requests are done (or the drain timeout passed).
    fn finish_drains(&mut self) {
        let drain_timeout = Duration::from_millis(self.shared.config.borrow().deployment.drain_timeout_ms).max(SETTLE);
        let mut i = 0;
        while i < self.copies.len() {
            let c = &self.copies[i];
            let done = match c.phase {
                Phase::Draining { since } => {
                    let idle = c.endpoint.as_ref().is_none_or(|e| e.in_flight() == 0);
                    (idle && since.elapsed() >= SETTLE) || since.elapsed() >= drain_timeout
                }
                _ => false,
            };
            if done {
                let copy = self.copies.remove(i);
                self.release(copy, STOP_GRACE_S);
            } else {
                i += 1;
            }
        }
    }

    fn drain(&mut self, id: &str) {
        if let Some(c) = self.copies.iter_mut().find(|c| c.id == id) {
            self.shared.route.remove(&c.id);
            c.phase = Phase::Draining { since: Instant::now() };
        }
    }

    /// Starts and drains copies towards `desired` copies of the current revision.
    async fn converge(&mut self, config: &ServiceConfig) {
        let may_start = Instant::now() >= self.next_start;
        let plan = rollout::converge(&self.copies, config.revision, config.desired_count, &config.deployment, may_start);
        if plan.start > 0 {
            self.start(config, plan.start).await;
        }
        for id in plan.drain {
            self.drain(&id);
        }
    }

    async fn start(&mut self, config: &ServiceConfig, count: u32) {
        let image = match start::image(&self.runtime, &mut self.images, &config.spec.image_id).await {
            Ok(image) => image,
            Err(e) => {
                self.last_error = Some(format!("image: {e}"));
                self.unproven_failure(config.revision);
                return;
            }
        };
        let container = start::container_spec(config, image);
        for result in start::start_copies(&self.runtime, &container, count).await {
            match result {
                Ok((id, addr)) => {
                    self.watch_exit(&id);
                    self.copies.push(Copy::new(id, config.revision, addr, false));
                }
                Err(e) => {
                    self.last_error = Some(format!("starting a copy: {e}"));
                    self.unproven_failure(config.revision);
                }
            }
        }
    }

    async fn autoscale(&mut self, config: &ServiceConfig) {
        let Some(policy) = &config.autoscaling else { return };
        let in_flight = self.shared.route.total_in_flight();
        let from = config.desired_count;
        if let Some(wanted) = self.autoscaler.observe(Instant::now(), in_flight, from, policy) {
            tracing::info!(service = %config.name, from, to = wanted, in_flight, "autoscaling");
            let _ = self
                .services
                .modify(&config.name, |c| {
                    // Unless the definition changed meanwhile (a deploy or a manual scale wins).
                    if let (Some(a), true) = (c.autoscaling, c.desired_count == from) {
                        c.desired_count = wanted.clamp(a.min, a.max);
                    }
                })
                .await;
        }
    }

    /// Marks a rollout complete, or rolls it back when the circuit breaker trips.
    async fn check_rollout(&mut self, config: &ServiceConfig) {
        let revision = config.revision;
        match rollout::verdict(config, self.rollout.failures, &self.copies) {
            Verdict::Trip => {
                let why = format!(
                    "revision {revision}: {} copies failed before becoming healthy ({})",
                    self.rollout.failures,
                    self.last_error.clone().unwrap_or_default()
                );
                let _ = self.services.modify(&config.name, move |c| rollout::roll_back(c, revision, why)).await;
                self.rollout.failures = 0;
            }
            Verdict::Complete => {
                let _ = self
                    .services
                    .modify(&config.name, move |c| {
                        if c.revision == revision {
                            c.rollout.state = RolloutState::Completed;
                            c.rollout.message = None;
                            c.rollout.updated_ms = now_ms();
                        }
                    })
                    .await;
            }
            Verdict::Continue => {}
        }
    }

    fn publish(&self) {
        let views = self.copies.iter().map(Copy::view).collect();
        *self.shared.copies.lock().expect("copies lock") = CopiesReport { copies: views, last_error: self.last_error.clone() };
    }

    async fn remove_all(&mut self) {
        for copy in std::mem::take(&mut self.copies) {
            self.shared.route.remove(&copy.id);
            let _ = self.runtime.stop(&copy.id, 0).await;
        }
        // Copies being stopped in the background, or started by an earlier run, by label.
        let incarnation = self.shared.config.borrow().created_ms;
        if let Ok(left) = self.runtime.list(Some(&self.shared.route.name)).await {
            for c in left.into_iter().filter(|c| c.incarnation == incarnation) {
                let _ = self.runtime.stop(&c.id, 0).await;
            }
        }
    }
}
