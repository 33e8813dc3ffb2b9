//! One-off tasks: a task definition run to completion on a node the scheduler picks, like ECS's
//! `RunTask`. Records are shaped like ECS's `DescribeTasks` (camelCase fields, `lastStatus`,
//! `stopCode`, `stoppedReason`, `containers[].exitCode`), so scripts written against ECS read
//! them unchanged.

use crate::error::Invalid;
use crate::placement::Placement;
use crate::taskdef::TaskDefinition;
use serde::{Deserialize, Serialize};

/// Most tasks one run request starts (ECS's `count` maximum).
pub const MAX_COUNT: u32 = 10;
/// Longest `timeout_s` a task may be given: a week.
pub const MAX_TIMEOUT_S: u64 = 7 * 24 * 3600;
/// The most of a task's output kept with its record once it stopped.
pub const MAX_KEPT_LOG: usize = 64 * 1024;

/// `POST /v1/tasks`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskRequest {
    pub task_definition: serde_json::Value,
    #[serde(default = "one")]
    pub count: u32,
    /// Stop the task (stop code `Timeout`) if it runs longer.
    #[serde(default)]
    pub timeout_s: Option<u64>,
    #[serde(default)]
    pub placement: Placement,
}

fn one() -> u32 {
    1
}

impl TaskRequest {
    pub fn validate(&self) -> Result<TaskDefinition, Invalid> {
        if !(1..=MAX_COUNT).contains(&self.count) {
            return Err(Invalid(format!("count must be 1..{MAX_COUNT}")));
        }
        if self.timeout_s.is_some_and(|t| t == 0 || t > MAX_TIMEOUT_S) {
            return Err(Invalid(format!("timeout_s must be 1..{MAX_TIMEOUT_S}")));
        }
        TaskDefinition::parse(&self.task_definition)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TaskStatus {
    Pending,
    Running,
    Stopped,
}

/// Why a task stopped (ECS's stop codes, plus `NodeLost`, which ECS does not have: it never
/// notices an instance whose agent vanished).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StopCode {
    EssentialContainerExited,
    TaskFailedToStart,
    UserInitiated,
    Timeout,
    NodeLost,
}

/// One container of a task as `DescribeTasks` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskContainer {
    pub name: String,
    pub last_status: TaskStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A task as stored and as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskRecord {
    pub task_arn: String,
    pub task_id: String,
    pub family: String,
    pub last_status: TaskStatus,
    pub desired_status: TaskStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_code: Option<StopCode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_reason: Option<String>,
    pub containers: Vec<TaskContainer>,
    /// The node it runs (or ran) on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The engine's id of its first container (the holder of its network).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_id: Option<String>,
    pub created_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_s: Option<u64>,
    pub placement: Placement,
    pub definition: TaskDefinition,
    /// Its output (the last [`MAX_KEPT_LOG`] bytes), kept once it stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs: Option<String>,
}

impl TaskRecord {
    /// A new task of `definition`, pending placement.
    pub fn pending(region: &str, task_id: String, definition: TaskDefinition, request: &TaskRequest, now: u64) -> Self {
        Self {
            task_arn: crate::arn::task_arn(region, &task_id),
            family: definition.family.clone(),
            last_status: TaskStatus::Pending,
            desired_status: TaskStatus::Running,
            stop_code: None,
            stopped_reason: None,
            containers: definition
                .containers
                .iter()
                .map(|c| TaskContainer { name: c.name.clone(), last_status: TaskStatus::Pending, exit_code: None, reason: None })
                .collect(),
            node: None,
            container_id: None,
            created_at: now,
            started_at: None,
            stopped_at: None,
            timeout_s: request.timeout_s,
            placement: request.placement.clone(),
            definition,
            logs: None,
            task_id,
        }
    }

    /// Marks it stopped with `code` and `reason`.
    pub fn stop(&mut self, code: StopCode, reason: impl Into<String>, now: u64) {
        self.last_status = TaskStatus::Stopped;
        self.desired_status = TaskStatus::Stopped;
        self.stop_code = Some(code);
        self.stopped_reason = Some(reason.into());
        self.stopped_at = Some(now);
        for c in &mut self.containers {
            c.last_status = TaskStatus::Stopped;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn records_read_like_describe_tasks() {
        let request: TaskRequest = serde_json::from_value(json!({
            "task_definition": {"family": "job", "memory": "128",
                                "containerDefinitions": [{"name": "main", "image": "x"}]},
            "count": 2, "timeout_s": 5
        }))
        .unwrap();
        let def = request.validate().unwrap();
        let mut task = TaskRecord::pending("us-east-1", "t1".into(), def, &request, 1);
        task.stop(StopCode::Timeout, "ran longer than 5 s", 2);
        let v = serde_json::to_value(&task).unwrap();
        assert_eq!(v["lastStatus"], "STOPPED");
        assert_eq!(v["stopCode"], "Timeout");
        assert_eq!(v["containers"][0]["lastStatus"], "STOPPED");
        assert!(v["taskArn"].as_str().unwrap().ends_with("task/skiff/t1"));
        for bad in [json!({"task_definition": {}, "count": 0}), json!({"task_definition": {}, "timeout_s": 0})] {
            let r: TaskRequest = serde_json::from_value(bad).unwrap();
            assert!(r.validate().is_err());
        }
    }
}
