//! The engine's create request for one container of a copy: the same lockdown as functions (no
//! capabilities, no new privileges, read-only root with a writable `/tmp`, a pids limit),
//! memory and CPU limits, rotated `json-file` logs, the copy's labels, and its network — the
//! services network (and the published port) for the holder, the holder's namespace for the
//! others.

use super::copy::{ContainerSpec, CopySpec, Identity, CONTAINER_NAME, ESSENTIAL, MEMBER_OF};
use super::{ServiceRuntime, INCARNATION, NETWORK, PORT, TASK};
use crate::container::labels;
use bollard::models::{ContainerCreateBody, EndpointSettings, HostConfig, HostConfigLogConfig, NetworkingConfig, PortBinding};
use std::collections::HashMap;

const PIDS_LIMIT: i64 = 4096;
const TMP_MOUNT_OPTIONS: &str = "rw,nosuid,nodev,size=512m";

impl ServiceRuntime {
    /// The create request for container `c` of `spec`; `holder` is the id of the copy's first
    /// container, for every container after it.
    pub(super) fn create_body(&self, spec: &CopySpec, c: &ContainerSpec, holder: Option<&str>) -> ContainerCreateBody {
        let memory = i64::from(c.memory_mb.unwrap_or(spec.memory_mb)) << 20;
        let port_key = spec.port.map(|p| format!("{p}/tcp"));
        let published = match (holder, self.publish, &port_key) {
            (None, Some(ip), Some(key)) => {
                let binding = PortBinding { host_ip: Some(ip.to_string()), host_port: Some(String::new()) };
                Some((key.clone(), HashMap::from([(key.clone(), Some(vec![binding]))])))
            }
            _ => None,
        };
        let network_mode = match holder {
            None => NETWORK.to_string(),
            Some(id) => format!("container:{id}"),
        };
        let host_config = HostConfig {
            port_bindings: published.as_ref().map(|(_, b)| b.clone()),
            memory: Some(memory),
            memory_swap: Some(memory),
            nano_cpus: Some(spec.nano_cpus),
            pids_limit: Some(PIDS_LIMIT),
            cap_drop: Some(vec!["ALL".into()]),
            security_opt: Some(vec!["no-new-privileges".into()]),
            readonly_rootfs: Some(true),
            tmpfs: Some(HashMap::from([("/tmp".to_string(), TMP_MOUNT_OPTIONS.to_string())])),
            network_mode: Some(network_mode),
            log_config: Some(HostConfigLogConfig {
                typ: Some("json-file".into()),
                config: Some(HashMap::from([("max-size".to_string(), "10m".to_string()), ("max-file".to_string(), "2".to_string())])),
            }),
            ..Default::default()
        };
        ContainerCreateBody {
            image: Some(c.image.id.clone()),
            entrypoint: c.entrypoint.clone(),
            // A new ENTRYPOINT drops the image's CMD, as `docker run --entrypoint` does.
            cmd: c.command.clone().or_else(|| c.entrypoint.as_ref().map(|_| Vec::new())),
            env: Some(self.env(spec, c)),
            working_dir: c.image.working_dir.clone(),
            user: c.image.user.clone(),
            labels: Some(self.labels(spec, c, holder)),
            exposed_ports: published.map(|(key, _)| vec![key]),
            healthcheck: CopySpec::health_config(c),
            host_config: Some(host_config),
            networking_config: holder
                .is_none()
                .then(|| NetworkingConfig { endpoints_config: Some(HashMap::from([(NETWORK.to_string(), EndpointSettings::default())])) }),
            ..Default::default()
        }
    }

    fn env(&self, spec: &CopySpec, c: &ContainerSpec) -> Vec<String> {
        let mut env: Vec<String> = c.image.env.clone();
        if let Some(port) = spec.port {
            env.push(format!("PORT={port}"));
        }
        match &spec.identity {
            Identity::Service { name, revision, .. } => {
                env.push(format!("SKIFF_SERVICE={name}"));
                env.push(format!("SKIFF_REVISION={revision}"));
            }
            Identity::Task { id, family } => {
                env.push(format!("SKIFF_TASK={id}"));
                env.push(format!("SKIFF_TASK_FAMILY={family}"));
            }
        }
        env.extend(c.env.iter().map(|(k, v)| format!("{k}={v}")));
        env
    }

    fn labels(&self, spec: &CopySpec, c: &ContainerSpec, holder: Option<&str>) -> HashMap<String, String> {
        let mut all = HashMap::from([
            (labels::OWNER.to_string(), self.owner.clone()),
            (ESSENTIAL.to_string(), c.essential.to_string()),
            (CONTAINER_NAME.to_string(), c.name.clone()),
        ]);
        match &spec.identity {
            Identity::Service { name, revision, incarnation } => {
                all.insert(labels::SERVICE.to_string(), name.clone());
                all.insert(labels::REVISION.to_string(), revision.to_string());
                all.insert(INCARNATION.to_string(), incarnation.to_string());
            }
            Identity::Task { id, .. } => {
                all.insert(TASK.to_string(), id.clone());
            }
        }
        if let Some(port) = spec.port {
            all.insert(PORT.to_string(), port.to_string());
        }
        if let Some(holder) = holder {
            all.insert(MEMBER_OF.to_string(), holder.to_string());
        }
        all
    }
}
