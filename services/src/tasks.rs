//! One-off tasks (ECS's `RunTask`): a task definition run to completion on a node the scheduler
//! picks. Any node takes the API's requests: it writes the task's record (pending, or asking
//! to stop) to the store; the scheduler's `task_runner` moves each record through its life —
//! placed and started, then stopped when an essential container exits, on timeout, when asked,
//! or when its node is lost — and keeps the containers' exit codes and output in the record.

use crate::error::ServiceError;
use crate::services::Services;
use skiff_api::now_ms;
use skiff_api::task::{TaskRecord, TaskRequest, TaskStatus};
use skiff_state::config::Expect;

impl Services {
    /// Records `request.count` new tasks, pending placement.
    pub async fn run_task(&self, request: TaskRequest) -> Result<Vec<TaskRecord>, ServiceError> {
        let mut definition = request.validate()?;
        let agent = self.agent()?;
        for c in &mut definition.containers {
            c.image_id = agent.runtime().resolve_image(&c.image, None).await?.id;
        }
        let mut started = Vec::new();
        for _ in 0..request.count {
            let id = uuid::Uuid::new_v4().simple().to_string();
            let task = TaskRecord::pending(self.region(), id.clone(), definition.clone(), &request, now_ms());
            self.registry().tasks.put(&id, &task, Expect::Absent).await?;
            started.push(task);
        }
        self.registry().task_wake.notify_one();
        Ok(started)
    }

    /// Every task, newest first.
    pub async fn tasks(&self) -> Result<Vec<TaskRecord>, ServiceError> {
        let (all, _) = self.registry().tasks.list().await?;
        let mut all: Vec<TaskRecord> = all.into_iter().map(|s| s.value).collect();
        all.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| a.task_id.cmp(&b.task_id)));
        Ok(all)
    }

    pub async fn task(&self, id: &str) -> Result<TaskRecord, ServiceError> {
        Ok(self.registry().tasks.get(id).await?.ok_or_else(|| ServiceError::NotFound(format!("task {id}")))?.value)
    }

    /// Asks for a task to stop (stop code `UserInitiated`); the scheduler stops it.
    pub async fn stop_task(&self, id: &str) -> Result<TaskRecord, ServiceError> {
        loop {
            let stored = self.registry().tasks.get(id).await?.ok_or_else(|| ServiceError::NotFound(format!("task {id}")))?;
            let mut task = stored.value;
            if task.desired_status == TaskStatus::Stopped {
                return Ok(task);
            }
            task.desired_status = TaskStatus::Stopped;
            match self.registry().tasks.put(id, &task, Expect::At(stored.revision)).await {
                Ok(_) => {
                    self.registry().task_wake.notify_one();
                    return Ok(task);
                }
                // The scheduler wrote meanwhile: read again.
                Err(skiff_state::StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// A task's output: kept with its record once it stopped, read from its node while it runs.
    pub async fn task_logs(&self, id: &str, tail: usize) -> Result<String, ServiceError> {
        let task = self.task(id).await?;
        if let Some(logs) = task.logs {
            return Ok(logs);
        }
        let (Some(node), Some(container)) = (&task.node, &task.container_id) else {
            return Ok(String::new());
        };
        match self.fleet()?.host(node) {
            Some(host) => host.logs(container, tail).await,
            None => Ok(format!("(node {node} is not ready)\n")),
        }
    }
}
