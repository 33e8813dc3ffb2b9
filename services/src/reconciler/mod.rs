//! One task per service that keeps what runs equal to what is desired, like ECS's service
//! scheduler: every tick it health-checks its copies, replaces the ones that died, failed or
//! were on a node that was lost, places new ones on the fleet's nodes, rolls a new revision out
//! within the deployment's bounds (minimum healthy, maximum surge), drains copies before
//! stopping them, rolls a revision that never becomes healthy back, and applies the
//! autoscaling policy. It acts only while this node holds the scheduler's lease; every order
//! and every write it makes carries the lease's term.
//!
//! Invariants:
//! - a copy takes traffic only after passing its health check (`healthy_threshold` in a row),
//!   and leaves rotation before it is stopped; it is stopped only once its in-flight count is
//!   zero (or the drain timeout passed), so rollouts and scale-ins drop no request;
//! - copies are found again by label after a restart (or a change of scheduler) and adopted,
//!   never duplicated: adopted copies count towards the desired number from the first tick;
//! - a node that comes back after it was lost has its copies of the service stopped: they were
//!   replaced when it was lost, and one slot never has two copies;
//! - a revision whose copies keep failing before ever becoming healthy is rolled back once the
//!   failures reach the circuit breaker's threshold (ECS's: half the desired count, 3..200).

mod copy;
mod nodes;
mod probe;
mod rollout;
mod start;

use crate::autoscale::Autoscaler;
use crate::endpoints::Endpoint;
use crate::fleet::{Fleet, StopOrder};
use crate::registry::Registry;
use crate::shared::{Shared, Stop};
use copy::{short, Copy, Phase};
use rollout::{RolloutProgress, Verdict};
use skiff_api::now_ms;
use skiff_api::service::{Placed, RolloutState, ServiceConfig};
use skiff_state::lease::{Fence, Terms};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

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
/// Most copies one step starts. A step runs to its end before the reconciler sees a stop, a
/// probe result or an exit, and an engine creates containers little faster in parallel than
/// one by one: 64 starts in one step held a delete for 13 s. In batches, each step stays short,
/// and the first copies are probed and in rotation while the rest are still starting.
const MAX_STARTS_PER_STEP: u32 = 8;

pub(crate) struct Reconciler {
    /// What this node knows of services: the stored records, the tally, the control lock.
    registry: Arc<Registry>,
    shared: Arc<Shared>,
    fleet: Arc<dyn Fleet>,
    http: reqwest::Client,
    copies: Vec<Copy>,
    /// The scheduler's term this reconciler acts in.
    fence: Fence,
    /// The ready nodes as of the last tick: a node that appears again is swept.
    known_nodes: HashSet<String>,
    /// Why the last copy wanted could not be placed.
    pending: Option<String>,
    /// What was last written to the placements record.
    written: Option<Placed>,
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

/// Runs a service's reconciler whenever this node schedules, until told to stop. On
/// [`Stop::Delete`] every copy is stopped (by the scheduling node); on [`Stop::Shutdown`]
/// copies keep running for the next scheduler to adopt.
pub(crate) async fn supervise(
    registry: Arc<Registry>,
    shared: Arc<Shared>,
    fleet: Arc<dyn Fleet>,
    http: reqwest::Client,
    mut leadership: Terms,
    mut stop: watch::Receiver<Option<Stop>>,
) {
    loop {
        let fence = tokio::select! {
            held = leadership.held() => match held {
                Some(fence) => fence,
                None => return,
            },
            _ = stop.wait_for(Option::is_some) => return,
        };
        let reconciler = Reconciler::new(registry.clone(), shared.clone(), fleet.clone(), http.clone(), fence);
        if !reconciler.run(&mut leadership, &mut stop).await {
            return;
        }
    }
}

impl Reconciler {
    fn new(registry: Arc<Registry>, shared: Arc<Shared>, fleet: Arc<dyn Fleet>, http: reqwest::Client, fence: Fence) -> Self {
        let (exits_tx, exits) = mpsc::unbounded_channel();
        let revision = shared.config.borrow().revision;
        Self {
            registry,
            shared,
            fleet,
            http,
            copies: Vec::new(),
            fence,
            known_nodes: HashSet::new(),
            pending: None,
            written: None,
            crash_loop: 0,
            next_start: Instant::now(),
            rollout: RolloutProgress { revision, failures: 0 },
            autoscaler: Autoscaler::new(Instant::now()),
            exits_tx,
            exits,
            last_error: None,
        }
    }

    /// Acts for the term `self.fence` until it ends (then `true`: wait for the next one) or
    /// the reconciler is told to stop (`false`).
    async fn run(mut self, leadership: &mut Terms, stop: &mut watch::Receiver<Option<Stop>>) -> bool {
        self.shared.set_acting(true);
        self.adopt().await;
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = self.shared.wake.notified() => {}
                Some(id) = self.exits.recv() => self.exited(&id),
                _ = stop.changed() => {}
                _ = leadership.ended(&self.fence) => {}
            }
            let stopping = *stop.borrow();
            match stopping {
                Some(Stop::Delete) => {
                    self.remove_all().await;
                    return false;
                }
                Some(Stop::Shutdown) => return false,
                None if leadership.current().as_ref() != Some(&self.fence) => {
                    tracing::warn!(service = %self.shared.route.name, term = self.fence.term, "no longer the scheduler: leaving the copies to the next one");
                    self.resign();
                    return true;
                }
                None => self.step().await,
            }
        }
    }

    /// Hands the service over: the route follows the placements record again, and what this
    /// term placed no longer counts here.
    fn resign(&mut self) {
        for copy in self.copies.drain(..) {
            self.registry.tally.remove(&copy.id);
        }
        self.shared.set_acting(false);
        self.registry.follow_placed(&self.shared);
    }

    async fn step(&mut self) {
        let config = self.shared.config.borrow().clone();
        if config.revision != self.rollout.revision {
            self.rollout = RolloutProgress { revision: config.revision, failures: 0 };
            self.crash_loop = 0;
            self.next_start = Instant::now();
        }
        self.shared.route.set_request_timeout(Duration::from_millis(config.request_timeout_ms));
        self.check_nodes().await;
        self.probe(&config).await;
        self.finish_drains();
        self.converge(&config).await;
        self.autoscale(&config).await;
        self.check_rollout(&config).await;
        self.publish().await;
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
        self.registry.tally.remove(&copy.id);
        let Some(host) = self.fleet.host(&copy.node) else { return };
        let order = StopOrder { fence: self.fence.clone(), id: copy.id, grace_s };
        tokio::spawn(async move {
            if let Err(e) = host.stop(&order).await {
                tracing::warn!(container = %short(&order.id), "stopping a service copy: {e}");
            }
        });
    }

    async fn probe(&mut self, config: &ServiceConfig) {
        let health = &config.spec.health;
        let now = Instant::now();
        let due: Vec<(usize, SocketAddr)> =
            self.copies.iter().enumerate().filter(|(_, c)| c.next_probe <= now && !c.phase.is_draining()).filter_map(|(i, c)| c.addr.map(|a| (i, a))).collect();
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
            self.start(config, plan.start.min(MAX_STARTS_PER_STEP)).await;
        } else if may_start {
            self.pending = None;
        }
        for id in plan.drain {
            self.drain(&id);
        }
    }

    async fn autoscale(&mut self, config: &ServiceConfig) {
        let Some(policy) = &config.autoscaling else { return };
        let in_flight = self.shared.route.total_in_flight() + self.fleet.others_in_flight(&config.name);
        let from = config.desired_count;
        if let Some(wanted) = self.autoscaler.observe(Instant::now(), in_flight, from, policy) {
            tracing::info!(service = %config.name, from, to = wanted, in_flight, "autoscaling");
            let _ = self
                .registry
                .modify(&config.name, Some(&self.fence), |c| {
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
                let _ = self.registry.modify(&config.name, Some(&self.fence), move |c| rollout::roll_back(c, revision, why)).await;
                self.rollout.failures = 0;
            }
            Verdict::Complete => {
                let _ = self
                    .registry
                    .modify(&config.name, Some(&self.fence), move |c| {
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

    /// Reports the copies to the API, and to every node through the placements record when
    /// anything but their counters changed.
    async fn publish(&mut self) {
        let placed = Placed { copies: self.copies.iter().map(Copy::view).collect(), last_error: self.last_error.clone(), pending: self.pending.clone() };
        *self.shared.report.lock().expect("report lock") = placed.clone();
        if self.written.as_ref().is_some_and(|w| !w.differs_from(&placed)) {
            return;
        }
        match self.registry.placed.put_fenced(&self.shared.route.name, &placed, skiff_state::config::Expect::Any, &self.fence).await {
            Ok(_) => self.written = Some(placed),
            Err(e) => tracing::warn!(service = %self.shared.route.name, "recording placements: {e}"),
        }
    }

    async fn remove_all(&mut self) {
        for copy in std::mem::take(&mut self.copies) {
            self.shared.route.remove(&copy.id);
            self.registry.tally.remove(&copy.id);
            if let Some(host) = self.fleet.host(&copy.node) {
                let _ = host.stop(&StopOrder { fence: self.fence.clone(), id: copy.id, grace_s: 0 }).await;
            }
        }
        // Copies being stopped in the background, or started by an earlier run, by label.
        for node in self.fleet.ready() {
            self.sweep(&node.name, |_| true).await;
        }
    }
}
