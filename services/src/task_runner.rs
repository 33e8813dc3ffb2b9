//! The scheduler's side of one-off tasks: while this node holds the scheduler's lease, every
//! task that has not stopped is moved on, each write fenced by the lease's term and guarded by
//! the record's revision (a stop asked for meanwhile is seen on the next round).

use crate::fleet::{Fleet, ReapOrder, TaskOrder};
use crate::placement::{choose, Candidate, Need};
use crate::registry::Registry;
use skiff_api::now_ms;
use skiff_api::task::{StopCode, TaskContainer, TaskRecord, TaskStatus};
use skiff_state::config::{Expect, Revision, Stored};
use skiff_state::lease::{Fence, Terms};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

const ROUND: Duration = Duration::from_millis(250);
/// SIGTERM-to-SIGKILL grace when a task is stopped on request or on timeout.
const STOP_GRACE_S: i32 = 10;

/// Runs the task rounds whenever this node schedules.
pub(crate) async fn supervise(registry: Arc<Registry>, fleet: Arc<dyn Fleet>, mut leadership: Terms) {
    while let Some(fence) = leadership.held().await {
        let mut runner = Runner::new(registry.clone(), fleet.clone(), fence.clone());
        runner.count_running().await;
        let mut round = tokio::time::interval(ROUND);
        round.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = round.tick() => {}
                _ = registry.task_wake.notified() => {}
                Some(id) = runner.ended_rx.recv() => { runner.ended.insert(id); }
                _ = leadership.ended(&fence) => break,
            }
            runner.round().await;
        }
        runner.resign();
    }
}

struct Runner {
    registry: Arc<Registry>,
    fleet: Arc<dyn Fleet>,
    fence: Fence,
    /// Tasks whose containers are being waited on, and those whose essential container ended.
    watched: HashSet<String>,
    ended: HashSet<String>,
    ended_tx: mpsc::UnboundedSender<String>,
    ended_rx: mpsc::UnboundedReceiver<String>,
}

impl Runner {
    fn new(registry: Arc<Registry>, fleet: Arc<dyn Fleet>, fence: Fence) -> Self {
        let (ended_tx, ended_rx) = mpsc::unbounded_channel();
        Self { registry, fleet, fence, watched: HashSet::new(), ended: HashSet::new(), ended_tx, ended_rx }
    }

    /// What running tasks hold counts against their nodes when a term starts.
    async fn count_running(&self) {
        let Ok((all, _)) = self.registry.tasks.list().await else { return };
        for t in all.into_iter().map(|s| s.value).filter(|t| t.last_status == TaskStatus::Running) {
            if let Some(node) = &t.node {
                self.registry.tally.add(&t.task_id, node, &format!("task/{}", t.family), need(&t));
            }
        }
    }

    fn resign(&self) {
        for id in &self.watched {
            self.registry.tally.remove(id);
        }
    }

    async fn round(&mut self) {
        let all = match self.registry.tasks.list().await {
            Ok((all, _)) => all,
            Err(e) => {
                tracing::debug!("listing tasks: {e}");
                return;
            }
        };
        for stored in all.into_iter().filter(|s| s.value.last_status != TaskStatus::Stopped) {
            self.advance(stored).await;
        }
    }

    async fn advance(&mut self, stored: Stored<TaskRecord>) {
        let Stored { value: mut task, revision, .. } = stored;
        let now = now_ms();
        let changed = match task.last_status {
            TaskStatus::Pending if task.desired_status == TaskStatus::Stopped => {
                task.stop(StopCode::UserInitiated, "stopped before it started", now);
                true
            }
            TaskStatus::Pending => {
                self.start(&mut task).await;
                true
            }
            TaskStatus::Running => self.check(&mut task, now).await,
            TaskStatus::Stopped => false,
        };
        if changed {
            self.write(&task, revision).await;
        }
    }

    /// Places and starts a pending task; it is running, or stopped with why it could not start.
    async fn start(&mut self, task: &mut TaskRecord) {
        let ready = self.fleet.ready();
        let used = self.registry.tally.used(&format!("task/{}", task.family));
        let candidates: Vec<Candidate> = ready.iter().map(|node| Candidate { node, used: used.get(&node.name).copied().unwrap_or_default() }).collect();
        let random = uuid::Uuid::new_v4().as_u64_pair().0;
        let node = match choose(&candidates, need(task), &task.placement, random) {
            Ok(node) => node.name.clone(),
            Err(why) => return task.stop(StopCode::TaskFailedToStart, why.to_string(), now_ms()),
        };
        let order = TaskOrder { fence: self.fence.clone(), task_id: task.task_id.clone(), definition: task.definition.clone() };
        let started = match self.fleet.host(&node) {
            Some(host) => host.run_task(&order).await,
            None => return task.stop(StopCode::TaskFailedToStart, format!("node {node} is no longer ready"), now_ms()),
        };
        match started {
            Ok(container) => {
                self.registry.tally.add(&task.task_id, &node, &format!("task/{}", task.family), need(task));
                task.last_status = TaskStatus::Running;
                task.node = Some(node);
                task.container_id = Some(container);
                task.started_at = Some(now_ms());
                for c in &mut task.containers {
                    c.last_status = TaskStatus::Running;
                }
            }
            Err(e) => task.stop(StopCode::TaskFailedToStart, format!("on node {node}: {e}"), now_ms()),
        }
    }

    /// Whether a running task must stop now (and stops it): its node was lost, it was asked
    /// to, it ran out of time, or an essential container ended.
    async fn check(&mut self, task: &mut TaskRecord, now: u64) -> bool {
        let (Some(node), Some(container)) = (task.node.clone(), task.container_id.clone()) else {
            task.stop(StopCode::TaskFailedToStart, "running without a node", now);
            return true;
        };
        let Some(host) = self.fleet.host(&node) else {
            self.forget(&task.task_id);
            task.stop(StopCode::NodeLost, format!("node {node} was lost"), now);
            return true;
        };
        let timed_out = task.timeout_s.is_some_and(|t| task.started_at.is_some_and(|s| now >= s + t * 1000));
        let (code, reason, grace) = if self.ended.contains(&task.task_id) {
            (StopCode::EssentialContainerExited, "Essential container in task exited".to_string(), 0)
        } else if task.desired_status == TaskStatus::Stopped {
            (StopCode::UserInitiated, "Task stopped by user".to_string(), STOP_GRACE_S)
        } else if timed_out {
            (StopCode::Timeout, format!("ran longer than its timeout of {} s", task.timeout_s.unwrap_or_default()), STOP_GRACE_S)
        } else {
            self.watch(&task.task_id, &node, &container);
            return false;
        };
        let order = ReapOrder { fence: self.fence.clone(), container_id: container, grace_s: grace };
        match host.reap_task(&order).await {
            Ok(reaped) => {
                task.stop(code, reason, now_ms());
                task.logs = Some(reaped.logs);
                task.containers = reaped
                    .containers
                    .into_iter()
                    .map(|c| TaskContainer {
                        reason: c.oom_killed.then(|| "OutOfMemoryError: container killed due to memory usage".to_string()),
                        name: c.name,
                        last_status: TaskStatus::Stopped,
                        exit_code: c.exit_code,
                    })
                    .collect();
                self.forget(&task.task_id);
                true
            }
            Err(e) => {
                tracing::warn!(task = %task.task_id, "stopping a task: {e}");
                false
            }
        }
    }

    /// Waits (in the background) for the task's essential containers to end.
    fn watch(&mut self, id: &str, node: &str, container: &str) {
        if !self.watched.insert(id.to_string()) {
            return;
        }
        let (fleet, tx) = (self.fleet.clone(), self.ended_tx.clone());
        let (id, node, container) = (id.to_string(), node.to_string(), container.to_string());
        tokio::spawn(async move {
            loop {
                let Some(host) = fleet.host(&node) else { return };
                if host.wait_stopped(&container).await.is_ok() {
                    let _ = tx.send(id);
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }

    fn forget(&mut self, id: &str) {
        self.watched.remove(id);
        self.ended.remove(id);
        self.registry.tally.remove(id);
    }

    async fn write(&self, task: &TaskRecord, revision: Revision) {
        if let Err(e) = self.registry.tasks.put_fenced(&task.task_id, task, Expect::At(revision), &self.fence).await {
            tracing::debug!(task = %task.task_id, "recording a task: {e}");
        }
    }
}

fn need(task: &TaskRecord) -> Need {
    Need { memory_mb: task.definition.memory_mb, cpu: task.definition.cpu }
}
