//! The sandbox every function container runs in, as one Docker create request.
//!
//! Limits follow Lambda: memory is the function's memory with no swap, CPU is proportional to
//! memory (1769 MB = one vCPU; at least one vCPU during init, like Lambda's init boost), at most
//! 1024 processes, `/tmp` is the only writable place. The container gets no capabilities, cannot
//! gain privileges, and has no network unless the function asks for egress — its only way out is
//! its own Runtime API socket.

use super::budget::Caps;
use super::docker::ImageSpec;
use super::labels;
use crate::ExecutionSpec;
use bollard::models::{ContainerCreateBody, HostConfig, HostConfigLogConfig};
use std::collections::HashMap;

pub const AGENT_PATH_IN_CONTAINER: &str = "/opt/skiff/agent";
pub const SOCKET_PATH_IN_CONTAINER: &str = "/opt/skiff/runtime.sock";
/// `AWS_LAMBDA_RUNTIME_API` inside every container: the agent listens here.
pub const RUNTIME_API_ADDR: &str = "127.0.0.1:9001";
const PIDS_LIMIT: i64 = 1024;
/// Lambda runs its runtimes as an unprivileged user (`sbx_user1051`, uid 993); so does every
/// function container whose image names no user of its own. An image that sets `USER` keeps it.
pub const SANDBOX_USER: &str = "993:990";
/// `/tmp` is the one writable place, for whichever user the container runs as (sticky, as a
/// `/tmp` is everywhere).
const TMP_MOUNT_OPTIONS: &str = "rw,nosuid,nodev,size=512m,mode=1777";

/// A container function version, as the container backend runs it.
#[derive(Debug, Clone)]
pub struct ContainerSpec {
    pub exec: ExecutionSpec,
    pub image: ImageSpec,
    /// Attach the egress network (a bridge without inter-container traffic) so the function can
    /// make outbound connections.
    pub egress: bool,
}

/// Where one container of a spec goes: the per-container parts of the create request.
pub(crate) struct Placement<'a> {
    pub worker: &'a str,
    pub owner: &'a str,
    pub region: &'a str,
    pub agent: &'a str,
    pub socket: &'a str,
    /// Started ahead of demand (provisioned concurrency) rather than for a waiting call.
    pub provisioned: bool,
}

/// The user the container's processes run as: the image's own, else [`SANDBOX_USER`].
pub(crate) fn container_user(spec: &ContainerSpec) -> &str {
    spec.image.user.as_deref().filter(|u| !u.is_empty()).unwrap_or(SANDBOX_USER)
}

/// What one container of `spec` reserves from the host budget: exactly its limits.
pub(crate) fn caps(spec: &ContainerSpec) -> Caps {
    Caps { memory_mib: u64::from(spec.exec.memory_mb), pids: PIDS_LIMIT as u64 }
}

/// Lambda's CPU share: proportional to memory, one vCPU at 1769 MB.
pub fn cpu_nanos(memory_mb: u32) -> i64 {
    i64::from(memory_mb) * 1_000_000_000 / 1769
}

/// CPU during init: at least one vCPU, like Lambda's init boost, so a 128 MB function (0.07
/// vCPU) does not spend seconds loading its runtime. Lowered to [`cpu_nanos`] once it is ready.
pub(crate) fn init_cpu_nanos(memory_mb: u32) -> i64 {
    cpu_nanos(memory_mb).max(1_000_000_000)
}

pub(crate) fn function_arn(region: &str, function: &str) -> String {
    format!("arn:aws:lambda:{region}:000000000000:function:{function}")
}

pub(crate) fn create_body(spec: &ContainerSpec, at: &Placement<'_>) -> ContainerCreateBody {
    let memory = i64::from(spec.exec.memory_mb) << 20;
    let host_config = HostConfig {
        memory: Some(memory),
        memory_swap: Some(memory),
        nano_cpus: Some(init_cpu_nanos(spec.exec.memory_mb)),
        pids_limit: Some(PIDS_LIMIT),
        cap_drop: Some(vec!["ALL".into()]),
        security_opt: Some(vec!["no-new-privileges".into()]),
        readonly_rootfs: Some(true),
        tmpfs: Some(HashMap::from([("/tmp".to_string(), TMP_MOUNT_OPTIONS.to_string())])),
        network_mode: Some(if spec.egress { super::docker::EGRESS_NETWORK } else { "none" }.into()),
        binds: Some(vec![format!("{}:{AGENT_PATH_IN_CONTAINER}:ro", at.agent), format!("{}:{SOCKET_PATH_IN_CONTAINER}", at.socket)]),
        // Output travels through the agent, per invocation; the engine keeps no second copy.
        log_config: Some(HostConfigLogConfig { typ: Some("none".into()), config: None }),
        ..Default::default()
    };
    ContainerCreateBody {
        image: Some(spec.image.id.clone()),
        entrypoint: Some(vec![AGENT_PATH_IN_CONTAINER.into()]),
        cmd: Some(spec.image.command()),
        env: Some(environment(spec, at)),
        working_dir: spec.image.working_dir.clone(),
        user: Some(container_user(spec).to_string()),
        labels: Some(HashMap::from([
            (labels::OWNER.to_string(), at.owner.to_string()),
            (labels::FUNCTION.to_string(), spec.exec.function.clone()),
            (labels::VERSION.to_string(), spec.exec.version.to_string()),
            (labels::WORKER.to_string(), at.worker.to_string()),
        ])),
        host_config: Some(host_config),
        ..Default::default()
    }
}

/// The image's environment, then Lambda's, then the function's own (which the invoker has
/// already checked does not redefine `AWS_LAMBDA_*`). Later entries win in Docker.
fn environment(spec: &ContainerSpec, at: &Placement<'_>) -> Vec<String> {
    let exec = &spec.exec;
    let today = time::OffsetDateTime::now_utc().date();
    let stream = format!("{:04}/{:02}/{:02}/[{}]{}", today.year(), u8::from(today.month()), today.day(), exec.version, at.worker);
    let handler = spec.image.cmd.first().cloned().unwrap_or_default();
    let lambda = [
        ("AWS_LAMBDA_FUNCTION_NAME", exec.function.clone()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", exec.memory_mb.to_string()),
        ("AWS_LAMBDA_FUNCTION_VERSION", exec.version.to_string()),
        ("AWS_LAMBDA_FUNCTION_TIMEOUT", exec.timeout.as_secs().to_string()),
        ("AWS_LAMBDA_RUNTIME_API", RUNTIME_API_ADDR.to_string()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{}", exec.function)),
        ("AWS_LAMBDA_LOG_STREAM_NAME", stream),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", if at.provisioned { "provisioned-concurrency" } else { "on-demand" }.to_string()),
        ("AWS_REGION", at.region.to_string()),
        ("AWS_DEFAULT_REGION", at.region.to_string()),
        ("_HANDLER", handler),
        ("LAMBDA_TASK_ROOT", "/var/task".to_string()),
        ("LAMBDA_RUNTIME_DIR", "/var/runtime".to_string()),
        ("TZ", ":UTC".to_string()),
    ];
    let image_has = |key: &str| spec.image.env.iter().any(|e| e.split('=').next() == Some(key));
    spec.image
        .env
        .iter()
        .cloned()
        .chain(lambda.into_iter().filter(|(k, _)| !(k.starts_with("LAMBDA_") && image_has(k))).map(|(k, v)| format!("{k}={v}")))
        .chain(exec.env.iter().map(|(k, v)| format!("{k}={v}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn spec(egress: bool) -> ContainerSpec {
        ContainerSpec {
            exec: ExecutionSpec {
                function: "f".into(),
                version: "3".into(),
                memory_mb: 1769,
                timeout: Duration::from_secs(7),
                env: vec![("MODE".into(), "x".into())],
                reuse: None,
            },
            image: ImageSpec {
                id: "sha256:abc".into(),
                entrypoint: vec!["/bootstrap".into()],
                cmd: vec!["handler".into()],
                env: vec!["PATH=/bin".into(), "LAMBDA_TASK_ROOT=/app".into()],
                working_dir: None,
                user: Some("1000".into()),
            },
            egress,
        }
    }

    fn placement() -> Placement<'static> {
        Placement { worker: "w1", owner: "o", region: "r", agent: "/a", socket: "/s", provisioned: false }
    }

    #[test]
    fn sandbox_is_locked_down_and_sized_like_lambda() {
        let body = create_body(&spec(false), &placement());
        let host = body.host_config.unwrap();
        assert_eq!(host.memory, Some(1769 << 20));
        assert_eq!(host.memory_swap, host.memory, "no swap");
        assert_eq!(host.nano_cpus, Some(1_000_000_000), "1769 MB is one vCPU");
        assert_eq!(cpu_nanos(128), 72_357_263);
        assert_eq!(init_cpu_nanos(128), 1_000_000_000, "init gets at least one vCPU");
        assert_eq!(init_cpu_nanos(3538), 2_000_000_000);
        assert_eq!(host.cap_drop, Some(vec!["ALL".to_string()]));
        assert_eq!(host.readonly_rootfs, Some(true));
        assert_eq!(host.network_mode.as_deref(), Some("none"));
        assert!(host.tmpfs.unwrap().contains_key("/tmp"));
        assert_eq!(body.entrypoint, Some(vec![AGENT_PATH_IN_CONTAINER.to_string()]));
        assert_eq!(body.cmd, Some(vec!["/bootstrap".to_string(), "handler".to_string()]));
        assert_eq!(body.image.as_deref(), Some("sha256:abc"));
        assert_eq!(body.user.as_deref(), Some("1000"));
        let labels = body.labels.unwrap();
        assert_eq!(labels[labels::FUNCTION], "f");
        assert_eq!(labels[labels::WORKER], "w1");
        let env = body.env.unwrap();
        assert!(env.contains(&"AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001".to_string()));
        assert!(env.contains(&"_HANDLER=handler".to_string()));
        assert!(env.contains(&"MODE=x".to_string()));
        assert!(env.contains(&"LAMBDA_TASK_ROOT=/app".to_string()), "the image's own task root is kept");
        assert!(!env.contains(&"LAMBDA_TASK_ROOT=/var/task".to_string()));
        assert_eq!(create_body(&spec(true), &placement()).host_config.unwrap().network_mode.as_deref(), Some("skiff-egress"));
    }
}
