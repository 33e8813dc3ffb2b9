//! The warm pool of one container function version (OpenWhisk's container pool, per version).
//!
//! A container serves one invocation at a time. A call takes the most recently used idle
//! container (the warmest) or, if there is none, starts a new one — a cold start. There is no
//! size limit here: the invoker admits a call only with a concurrency permit, so the containers
//! that are busy never outnumber the function's concurrency, and the pool only ever grows to the
//! peak that was admitted. Idle containers are removed after the keep-warm period, except that
//! `provisioned` of them are kept started ahead of demand.
//!
//! A container whose call ended badly (timeout, exit, OOM) is destroyed, never reused; a retired
//! pool (the version was replaced or deleted) destroys its idle containers at once and the busy
//! ones when their call ends.

use super::budget::{IdleHolder, Removal};
use super::{ContainerBackend, ContainerInstance, ContainerSpec, StartError};
use crate::{Execution, Invocation, Worker, WorkerError, WorkerFuture};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// Told of every change in the number of idle containers (the invoker feeds a gauge with it).
pub trait WarmCount: Send + Sync {
    fn add(&self, delta: i64);
}

pub struct ContainerPool {
    inner: Arc<PoolInner>,
}

struct PoolInner {
    backend: ContainerBackend,
    spec: Arc<ContainerSpec>,
    idle: Mutex<Vec<Idle>>,
    /// Containers that exist (starting, busy or idle).
    live: AtomicUsize,
    retired: AtomicBool,
    keep_warm: Duration,
    provisioned: usize,
    /// Follows the length of `idle`.
    warm: Box<dyn WarmCount>,
}

struct Idle {
    instance: ContainerInstance,
    since: Instant,
}

/// Backoff between attempts to start provisioned containers that keep failing their init.
const PROVISION_BACKOFF_MAX: Duration = Duration::from_secs(60);

impl ContainerPool {
    /// Must be called inside the Tokio runtime: the pool's keeper task starts here.
    pub fn new(backend: ContainerBackend, spec: ContainerSpec, keep_warm: Duration, provisioned: u32, warm: Box<dyn WarmCount>) -> Self {
        let inner = Arc::new(PoolInner {
            backend,
            spec: Arc::new(spec),
            idle: Mutex::new(Vec::new()),
            live: AtomicUsize::new(0),
            retired: AtomicBool::new(false),
            keep_warm,
            provisioned: provisioned as usize,
            warm,
        });
        let holder: Weak<dyn IdleHolder> = Arc::downgrade(&inner) as Weak<PoolInner>;
        inner.backend.budget().register(holder);
        tokio::spawn(keeper(Arc::downgrade(&inner)));
        Self { inner }
    }
}

impl Worker for ContainerPool {
    fn invoke(&self, invocation: Invocation) -> WorkerFuture {
        let inner = self.inner.clone();
        Box::pin(async move { inner.invoke(invocation).await })
    }

    fn retire(&self) {
        self.inner.retired.store(true, Ordering::SeqCst);
        self.inner.discard_idle();
    }
}

impl PoolInner {
    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Idle>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn invoke(self: Arc<Self>, invocation: Invocation) -> Result<Execution, WorkerError> {
        let (instance, init_duration) = match self.take_idle() {
            Some(instance) => (instance, None),
            None => match self.start(false).await {
                Ok(instance) => {
                    let init = instance.init_duration;
                    (instance, Some(init))
                }
                Err(StartError::Init { error, logs, init_duration }) => {
                    return Ok(Execution {
                        outcome: crate::Outcome::Error(error),
                        logs,
                        duration: Duration::ZERO,
                        init_duration: Some(init_duration),
                        max_memory_bytes: 0,
                    })
                }
                Err(StartError::Platform(e)) => return Err(e),
            },
        };
        let result = instance.run(&invocation).await;
        if result.reusable && !self.retired.load(Ordering::SeqCst) {
            self.push_idle(instance, false);
        } else {
            self.discard(instance);
        }
        Ok(Execution { outcome: result.outcome, logs: result.logs, duration: result.duration, init_duration, max_memory_bytes: result.max_memory_bytes })
    }

    /// Makes a container available: on top (the warmest) after a call, at the bottom when it
    /// was provisioned ahead of demand.
    fn push_idle(&self, instance: ContainerInstance, bottom: bool) {
        let entry = Idle { instance, since: Instant::now() };
        {
            let mut idle = self.idle();
            if bottom {
                idle.insert(0, entry);
            } else {
                idle.push(entry);
            }
            self.warm.add(1);
        }
        // Retired while we were pushing: make sure nothing stays behind.
        if self.retired.load(Ordering::SeqCst) {
            self.discard_idle();
        }
    }

    fn discard_idle(&self) {
        let idle = std::mem::take(&mut *self.idle());
        self.warm.add(-(idle.len() as i64));
        for entry in idle {
            self.discard(entry.instance);
        }
    }

    /// The warmest idle container whose runtime is still alive; dead ones are discarded.
    fn take_idle(&self) -> Option<ContainerInstance> {
        loop {
            let entry = {
                let mut idle = self.idle();
                let entry = idle.pop()?;
                self.warm.add(-1);
                entry
            };
            if entry.instance.alive() {
                return Some(entry.instance);
            }
            self.discard(entry.instance);
        }
    }

    async fn start(&self, provisioned: bool) -> Result<ContainerInstance, StartError> {
        self.live.fetch_add(1, Ordering::SeqCst);
        let started = ContainerInstance::start(&self.backend, self.spec.clone(), provisioned).await;
        if started.is_err() {
            self.live.fetch_sub(1, Ordering::SeqCst);
        }
        started
    }

    /// Destroys a container in the background; the call that used it does not wait.
    fn discard(&self, instance: ContainerInstance) {
        self.live.fetch_sub(1, Ordering::SeqCst);
        tokio::spawn(instance.destroy());
    }

    /// Removes containers idle for longer than the keep-warm period, oldest first, but never
    /// below the provisioned count.
    fn reap(&self) {
        let mut expired = Vec::new();
        {
            let mut idle = self.idle();
            while let Some(oldest) = idle.first() {
                let above_floor = self.live.load(Ordering::SeqCst) - expired.len() > self.provisioned;
                if oldest.since.elapsed() < self.keep_warm || !above_floor {
                    break;
                }
                expired.push(idle.remove(0));
                self.warm.add(-1);
            }
        }
        for entry in expired {
            tracing::debug!(function = %self.spec.exec.function, worker = entry.instance.worker_id(), "keep-warm expired");
            self.discard(entry.instance);
        }
    }

    /// Starts containers until the provisioned count is live, each joining the pool as soon as
    /// it is ready; false if one failed its start.
    async fn provision(self: &Arc<Self>) -> bool {
        let missing = self.provisioned.saturating_sub(self.live.load(Ordering::SeqCst));
        let starts = (0..missing).map(|_| async {
            match self.start(true).await {
                Ok(instance) if !self.retired.load(Ordering::SeqCst) => {
                    self.push_idle(instance, true);
                    true
                }
                Ok(instance) => {
                    self.discard(instance);
                    true
                }
                Err(e) => {
                    tracing::warn!(function = %self.spec.exec.function, "provisioned container failed to start: {e:?}");
                    false
                }
            }
        });
        futures_util::future::join_all(starts).await.into_iter().all(|ok| ok)
    }
}

/// The host budget takes idle containers from any pool when a start elsewhere needs room, but
/// never below the provisioned count (the keeper would only start them again).
impl IdleHolder for PoolInner {
    fn oldest_idle(&self) -> Option<Instant> {
        let idle = self.idle();
        let above_floor = self.live.load(Ordering::SeqCst) > self.provisioned;
        idle.first().filter(|_| above_floor).map(|oldest| oldest.since)
    }

    fn evict_oldest(&self) -> Option<Removal> {
        let mut idle = self.idle();
        if idle.is_empty() || self.live.load(Ordering::SeqCst) <= self.provisioned {
            return None;
        }
        let oldest = idle.remove(0);
        self.warm.add(-1);
        self.live.fetch_sub(1, Ordering::SeqCst);
        let worker = oldest.instance.worker_id();
        tracing::info!(function = %self.spec.exec.function, worker, "evicting an idle container to make room in the host budget");
        Some(Box::pin(oldest.instance.destroy()))
    }
}

/// The pool's housekeeping: keep-warm expiry and provisioned concurrency. Holds the pool weakly
/// and stops once it is retired or gone.
async fn keeper(pool: Weak<PoolInner>) {
    let tick = match pool.upgrade() {
        Some(p) => (p.keep_warm / 4).clamp(Duration::from_millis(100), Duration::from_secs(5)),
        None => return,
    };
    let mut backoff = Duration::from_secs(1);
    let mut next_provision = Instant::now();
    loop {
        let Some(pool) = pool.upgrade() else { return };
        if pool.retired.load(Ordering::SeqCst) {
            return;
        }
        pool.reap();
        if pool.provisioned > 0 && Instant::now() >= next_provision {
            if pool.provision().await {
                backoff = Duration::from_secs(1);
            } else {
                next_provision = Instant::now() + backoff;
                backoff = (backoff * 2).min(PROVISION_BACKOFF_MAX);
            }
        }
        drop(pool);
        tokio::time::sleep(tick).await;
    }
}
