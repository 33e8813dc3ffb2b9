//! A copy's containers as one: started in order (each when what it waits for is ready), stopped
//! together, waited on until an essential one ends, their logs and exits read together.

use super::copy::{ContainerExit, CopySpec, Identity, StartAfter, CONTAINER_NAME, ESSENTIAL, MEMBER_OF};
use super::ServiceRuntime;
use crate::container::docker::{self, conflict, internal, not_found};
use crate::WorkerError;
use bollard::models::HealthStatusEnum;
use bollard::query_parameters::{LogsOptionsBuilder, StopContainerOptionsBuilder};
use futures_util::StreamExt;
use std::time::{Duration, Instant};

const HEALTH_POLL: Duration = Duration::from_millis(200);

impl ServiceRuntime {
    /// Creates and starts a copy's containers; returns the holder's id (the copy's id). If any
    /// container cannot start (or what it waits for fails), the ones started are removed.
    pub async fn start(&self, spec: &CopySpec, instance: &str) -> Result<String, WorkerError> {
        let base = match &spec.identity {
            Identity::Service { name, .. } => format!("skiff-svc-{name}-{instance}"),
            Identity::Task { id, .. } => format!("skiff-task-{id}"),
        };
        let mut started: Vec<String> = Vec::new();
        for (i, c) in spec.containers.iter().enumerate() {
            let result = async {
                for (dep, condition) in &c.after {
                    self.wait_for(&started[*dep], &spec.containers[*dep].name, *condition, spec.containers[*dep].health.as_ref().map(|h| h.deadline())).await?;
                }
                let name = if i == 0 { base.clone() } else { format!("{base}-{}", c.name) };
                docker::create_and_start(&self.docker, &name, self.create_body(spec, c, started.first().map(String::as_str)), |_| {}).await
            }
            .await;
            match result {
                Ok(id) => started.push(id),
                Err(e) => {
                    for id in started.iter().rev() {
                        let _ = docker::remove(&self.docker, id).await;
                    }
                    return Err(e);
                }
            }
        }
        Ok(started.into_iter().next().expect("a copy has at least one container"))
    }

    /// Waits until container `id` (named `name` in its copy) satisfies `condition`.
    async fn wait_for(&self, id: &str, name: &str, condition: StartAfter, health_deadline: Option<Duration>) -> Result<(), WorkerError> {
        match condition {
            StartAfter::Started => Ok(()),
            StartAfter::Exited | StartAfter::Succeeded => {
                docker::wait_stopped(&self.docker, id).await;
                let code = self.exit(id).await?.exit_code;
                if condition == StartAfter::Succeeded && code != Some(0) {
                    return Err(WorkerError::Internal(format!("container {name} exited with {code:?}, not 0 (dependsOn SUCCESS)")));
                }
                Ok(())
            }
            StartAfter::Healthy => {
                let deadline = Instant::now() + health_deadline.unwrap_or(Duration::from_secs(60));
                loop {
                    let info = self.docker.inspect_container(id, None).await.map_err(|e| internal("inspect container", e))?;
                    let state = info.state.unwrap_or_default();
                    match state.health.and_then(|h| h.status) {
                        Some(HealthStatusEnum::HEALTHY) => return Ok(()),
                        Some(HealthStatusEnum::UNHEALTHY) => return Err(WorkerError::Internal(format!("container {name} is unhealthy (dependsOn HEALTHY)"))),
                        _ if state.running != Some(true) => return Err(WorkerError::Internal(format!("container {name} stopped before it was healthy"))),
                        _ if Instant::now() >= deadline => return Err(WorkerError::Internal(format!("container {name} did not become healthy in time"))),
                        _ => tokio::time::sleep(HEALTH_POLL).await,
                    }
                }
            }
        }
    }

    /// The copy's containers: the holder `id` first, then the others.
    /// `id` may be the short form the API shows: the label holds the full one.
    async fn members(&self, id: &str) -> Result<Vec<(String, bool)>, WorkerError> {
        let holder = self.docker.inspect_container(id, None).await.map_err(|e| internal("inspect container", e))?;
        let labels = holder.config.and_then(|c| c.labels).unwrap_or_default();
        let id = holder.id.unwrap_or_else(|| id.to_string());
        let kind = format!("{MEMBER_OF}={id}");
        let others = docker::list_labelled(&self.docker, &self.owner, &kind).await?;
        let mut all = vec![(id, labels.get(ESSENTIAL).is_none_or(|e| e == "true"))];
        for c in others {
            let essential = c.labels.as_ref().and_then(|l| l.get(ESSENTIAL)).is_none_or(|e| e == "true");
            if let Some(member) = c.id {
                all.push((member, essential));
            }
        }
        Ok(all)
    }

    /// Resolves once the copy has ended: its holder or any essential container stopped
    /// (exited, was killed or removed).
    pub async fn wait_stopped(&self, id: &str) {
        let members = self.members(id).await.unwrap_or_else(|_| vec![(id.to_string(), true)]);
        let waits = members
            .iter()
            .enumerate()
            .filter(|(i, (_, essential))| *i == 0 || *essential)
            .map(|(_, (member, _))| Box::pin(docker::wait_stopped(&self.docker, member)));
        futures_util::future::select_all(waits).await;
    }

    /// Stops a copy's containers (SIGTERM, then SIGKILL after `grace_s`) and removes them: the
    /// others first, the holder of their network last.
    pub async fn stop(&self, id: &str, grace_s: i32) -> Result<(), WorkerError> {
        let members = self.members(id).await.unwrap_or_else(|_| vec![(id.to_string(), true)]);
        for (member, _) in members.iter().rev() {
            let options = StopContainerOptionsBuilder::default().t(grace_s).build();
            match self.docker.stop_container(member, Some(options)).await {
                Err(e) if !not_found(&e) => tracing::debug!(id = %member, "stop: {e}"),
                _ => {}
            }
            docker::remove(&self.docker, member).await?;
        }
        Ok(())
    }

    /// Stops a copy's containers (SIGTERM, then SIGKILL after `grace_s`) but keeps them, so
    /// how they ended and what they printed can still be read.
    pub async fn halt(&self, id: &str, grace_s: i32) -> Result<(), WorkerError> {
        for (member, _) in self.members(id).await?.iter().rev() {
            let options = StopContainerOptionsBuilder::default().t(grace_s).build();
            match self.docker.stop_container(member, Some(options)).await {
                Err(e) if !not_found(&e) => return Err(internal("stop container", e)),
                _ => {}
            }
        }
        Ok(())
    }

    /// How each container of the copy stands or ended.
    pub async fn exits(&self, id: &str) -> Result<Vec<ContainerExit>, WorkerError> {
        let mut all = Vec::new();
        for (member, _) in self.members(id).await? {
            all.push(self.exit(&member).await?);
        }
        Ok(all)
    }

    async fn exit(&self, id: &str) -> Result<ContainerExit, WorkerError> {
        let info = self.docker.inspect_container(id, None).await.map_err(|e| internal("inspect container", e))?;
        let labels = info.config.and_then(|c| c.labels).unwrap_or_default();
        let state = info.state.unwrap_or_default();
        let running = state.running == Some(true);
        Ok(ContainerExit {
            name: labels.get(CONTAINER_NAME).cloned().unwrap_or_default(),
            essential: labels.get(ESSENTIAL).is_none_or(|e| e == "true"),
            running,
            exit_code: if running { None } else { state.exit_code },
            oom_killed: state.oom_killed == Some(true),
        })
    }

    /// The last `tail` lines each container of the copy wrote, each headed by its name when
    /// there are several.
    pub async fn logs(&self, id: &str, tail: usize) -> Result<String, WorkerError> {
        let members = self.members(id).await.unwrap_or_else(|_| vec![(id.to_string(), true)]);
        let several = members.len() > 1;
        let mut out = String::new();
        for (member, _) in members {
            if several {
                let name = self.exit(&member).await.map(|e| e.name).unwrap_or_default();
                out.push_str(&format!("--- container {name} ---\n"));
            }
            out.push_str(&self.container_logs(&member, tail).await?);
        }
        Ok(out)
    }

    async fn container_logs(&self, id: &str, tail: usize) -> Result<String, WorkerError> {
        let options = LogsOptionsBuilder::default().stdout(true).stderr(true).tail(&tail.to_string()).build();
        let mut stream = self.docker.logs(id, Some(options));
        let mut out = String::new();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(output) => out.push_str(&output.to_string()),
                Err(e) => {
                    out.push_str(gone_note(e)?);
                    break;
                }
            }
        }
        Ok(out)
    }
}

/// What a log read says when its container went away under it, or the error when that is not
/// what happened. A copy being replaced or scaled in is removed while its logs may be asked for;
/// the engine answers 404 once it is gone and 409 while it is dead or marked for removal.
fn gone_note(e: bollard::errors::Error) -> Result<&'static str, WorkerError> {
    match e {
        e if not_found(&e) => Ok(""),
        e if conflict(&e) => Ok("(this container is being removed; its output is no longer available)\n"),
        e => Err(internal("logs", e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::errors::Error as DockerError;

    fn status(status_code: u16) -> DockerError {
        DockerError::DockerResponseServerError { status_code, message: "engine says no".into() }
    }

    #[test]
    fn a_container_removed_under_a_log_read_ends_it_and_anything_else_is_an_error() {
        assert_eq!(gone_note(status(404)).unwrap(), "");
        assert!(gone_note(status(409)).unwrap().contains("being removed"));
        let err = gone_note(status(500)).unwrap_err().to_string();
        assert!(err.contains("docker logs") && err.contains("engine says no"), "{err}");
    }
}
