//! Amazon ECS task definitions (the JSON `aws ecs register-task-definition` takes), read into
//! what Skiff runs: up to ten containers sharing one network namespace, so a sidecar is reached
//! over localhost.
//!
//! Every field is checked against the subset Skiff carries out. A field outside it is refused
//! with its path (`containerDefinitions[1].logConfiguration is not supported`), never ignored,
//! so a user migrating an ECS file knows exactly what does not carry over.

use crate::error::Invalid;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// At most this many containers in one task, as on ECS.
pub const MAX_CONTAINERS: usize = 10;

const TASK_FIELDS: &[&str] = &["family", "containerDefinitions", "cpu", "memory"];
const CONTAINER_FIELDS: &[&str] =
    &["name", "image", "essential", "command", "entryPoint", "environment", "portMappings", "healthCheck", "memory", "cpu", "dependsOn"];

/// When a container may start, relative to one it depends on (ECS's `dependsOn.condition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Condition {
    /// Once it has started.
    Start,
    /// Once it has exited (any code).
    Complete,
    /// Once it has exited with code 0.
    Success,
    /// Once its health check passes.
    Healthy,
}

/// A container's own health check: a command run inside it (ECS's `healthCheck`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerHealth {
    /// `["CMD", ...]` or `["CMD-SHELL", "..."]`, as Docker takes it.
    pub command: Vec<String>,
    pub interval_s: u32,
    pub timeout_s: u32,
    pub retries: u32,
    pub start_period_s: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dependency {
    pub container: String,
    pub condition: Condition,
}

/// One container of a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerDefinition {
    pub name: String,
    pub image: String,
    /// Filled in when the image is resolved at deploy: what runs.
    #[serde(default)]
    pub image_id: String,
    pub essential: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Container ports (TCP) it listens on.
    #[serde(default)]
    pub ports: Vec<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<ContainerHealth>,
    /// Hard memory limit, MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u32>,
    #[serde(default)]
    pub depends_on: Vec<Dependency>,
}

/// A task definition as Skiff runs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskDefinition {
    pub family: String,
    pub containers: Vec<ContainerDefinition>,
    /// The task's memory (MiB) and vCPUs: what placement reserves.
    pub memory_mb: u32,
    pub cpu: f64,
}

impl TaskDefinition {
    /// The container that receives `/svc` traffic and its port: the first essential container
    /// with a port mapping.
    pub fn entry(&self) -> Option<(&ContainerDefinition, u16)> {
        self.containers.iter().filter(|c| c.essential).find_map(|c| c.ports.first().map(|p| (c, *p)))
    }

    /// Reads an ECS task definition (see the module doc).
    pub fn parse(json: &Value) -> Result<Self, Invalid> {
        let task = object(json, "the task definition")?;
        only(task, TASK_FIELDS, "")?;
        let family = string(task, "family", "")?.ok_or_else(|| invalid("family is required"))?;
        crate::names::check_service_name(&family).map_err(|e| invalid(format!("family: {e}")))?;
        let list = match task.get("containerDefinitions") {
            Some(Value::Array(list)) if !list.is_empty() && list.len() <= MAX_CONTAINERS => list,
            _ => return Err(invalid(format!("containerDefinitions must list 1..{MAX_CONTAINERS} containers"))),
        };
        let containers = list.iter().enumerate().map(|(i, c)| container(c, &format!("containerDefinitions[{i}]"))).collect::<Result<Vec<_>, _>>()?;
        let memory_mb = match task.get("memory") {
            Some(v) => units(v, "memory", 1.0)? as u32,
            None if containers.iter().all(|c| c.memory_mb.is_some()) => containers.iter().filter_map(|c| c.memory_mb).sum(),
            None => return Err(invalid("memory is required (task-level, or memory on every container)")),
        };
        let cpu = match task.get("cpu") {
            Some(v) => units(v, "cpu", 1024.0)?,
            None => containers_cpu(list)?.max(0.25),
        };
        let def = Self { family, containers, memory_mb, cpu };
        def.check()?;
        Ok(def)
    }

    fn check(&self) -> Result<(), Invalid> {
        let mut names: Vec<&str> = self.containers.iter().map(|c| c.name.as_str()).collect();
        names.sort();
        if names.windows(2).any(|w| w[0] == w[1]) {
            return Err(invalid("container names must be unique"));
        }
        if !self.containers.iter().any(|c| c.essential) {
            return Err(invalid("at least one container must be essential"));
        }
        for c in &self.containers {
            for dep in &c.depends_on {
                if !self.containers.iter().any(|o| o.name == dep.container && o.name != c.name) {
                    return Err(invalid(format!("container {}: dependsOn names no other container {:?}", c.name, dep.container)));
                }
                if dep.condition == Condition::Healthy && self.containers.iter().any(|o| o.name == dep.container && o.health.is_none()) {
                    return Err(invalid(format!("container {}: HEALTHY needs a healthCheck on {}", c.name, dep.container)));
                }
            }
        }
        let Some(order) = start_order(&self.containers) else {
            return Err(invalid("dependsOn has a cycle"));
        };
        // The first container started holds the task's network: it must keep running.
        let holder = &order[0].name;
        if self.containers.iter().flat_map(|c| &c.depends_on).any(|d| &d.container == holder && matches!(d.condition, Condition::Complete | Condition::Success))
        {
            return Err(invalid(format!("container {holder} starts first and holds the task's network, so it cannot be waited on with COMPLETE or SUCCESS")));
        }
        if !(16..=65536).contains(&self.memory_mb) {
            return Err(invalid("memory must be 16..65536 MiB"));
        }
        if !(self.cpu > 0.0 && self.cpu <= 64.0) {
            return Err(invalid("cpu must be above 0 and at most 64 vCPUs (65536 units)"));
        }
        Ok(())
    }
}

/// `containers` in an order that starts each after those it depends on; `None` if dependsOn
/// has a cycle.
pub fn start_order(containers: &[ContainerDefinition]) -> Option<Vec<&ContainerDefinition>> {
    let mut done: Vec<&ContainerDefinition> = Vec::new();
    while done.len() < containers.len() {
        let ready = containers
            .iter()
            .find(|c| !done.iter().any(|d| d.name == c.name) && c.depends_on.iter().all(|dep| done.iter().any(|d| d.name == dep.container)))?;
        done.push(ready);
    }
    Some(done)
}

fn invalid(message: impl Into<String>) -> Invalid {
    Invalid(message.into())
}

fn object<'a>(v: &'a Value, what: &str) -> Result<&'a Map<String, Value>, Invalid> {
    v.as_object().ok_or_else(|| invalid(format!("{what} must be a JSON object")))
}

/// Refuses any field of `map` outside `allowed`, naming it under `path`.
fn only(map: &Map<String, Value>, allowed: &[&str], path: &str) -> Result<(), Invalid> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(field) => Err(invalid(format!("{path}{field} is not supported by Skiff (supported: {})", allowed.join(", ")))),
        None => Ok(()),
    }
}

fn string(map: &Map<String, Value>, field: &str, path: &str) -> Result<Option<String>, Invalid> {
    match map.get(field) {
        None => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.clone())),
        Some(_) => Err(invalid(format!("{path}{field} must be a non-empty string"))),
    }
}

fn strings(map: &Map<String, Value>, field: &str, path: &str) -> Result<Option<Vec<String>>, Invalid> {
    match map.get(field) {
        None => Ok(None),
        Some(Value::Array(list)) if !list.is_empty() => list
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .map(Some)
            .ok_or_else(|| invalid(format!("{path}{field} must be a list of strings"))),
        Some(_) => Err(invalid(format!("{path}{field} must be a non-empty list of strings"))),
    }
}

fn number(map: &Map<String, Value>, field: &str, path: &str) -> Result<Option<u64>, Invalid> {
    match map.get(field) {
        None => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| invalid(format!("{path}{field} must be a whole number"))),
    }
}

/// A task-level `cpu` or `memory`: ECS takes a number or a string of one ("1024"), or with a
/// unit ("1 vCPU", "2 GB"). `per_unit` converts the plain number (cpu units per vCPU).
fn units(v: &Value, field: &str, per_unit: f64) -> Result<f64, Invalid> {
    let bad = || invalid(format!("{field} must be a number, e.g. \"512\" (or \"1 vCPU\" / \"2 GB\")"));
    let text = match v {
        Value::Number(n) => return n.as_f64().map(|n| n / per_unit).ok_or_else(bad),
        Value::String(s) => s.trim().to_ascii_lowercase(),
        _ => return Err(bad()),
    };
    if let Some(n) = text.strip_suffix("vcpu").filter(|_| field == "cpu") {
        return n.trim().parse().map_err(|_| bad());
    }
    if let Some(n) = text.strip_suffix("gb").filter(|_| field == "memory") {
        return n.trim().parse::<f64>().map(|g| g * 1024.0).map_err(|_| bad());
    }
    text.parse::<f64>().map(|n| n / per_unit).map_err(|_| bad())
}

/// The containers' own `cpu` units, summed, in vCPUs.
fn containers_cpu(list: &[Value]) -> Result<f64, Invalid> {
    // Summed as floats: units past u64's range must not wrap into a small, valid-looking share.
    Ok(list.iter().filter_map(|c| c.get("cpu")?.as_u64()).map(|units| units as f64).sum::<f64>() / 1024.0)
}

fn container(v: &Value, at: &str) -> Result<ContainerDefinition, Invalid> {
    let c = object(v, at)?;
    let path = format!("{at}.");
    only(c, CONTAINER_FIELDS, &path)?;
    let name = string(c, "name", &path)?.ok_or_else(|| invalid(format!("{path}name is required")))?;
    let image = string(c, "image", &path)?.ok_or_else(|| invalid(format!("{path}image is required")))?;
    crate::names::check_image_reference(&image).map_err(|e| invalid(format!("{path}image: {e}")))?;
    let essential = match c.get("essential") {
        None => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(invalid(format!("{path}essential must be true or false"))),
    };
    let memory_mb = match number(c, "memory", &path)? {
        Some(m @ 6..=65536) => Some(m as u32),
        Some(_) => return Err(invalid(format!("{path}memory must be 6..65536 MiB"))),
        None => None,
    };
    number(c, "cpu", &path)?;
    Ok(ContainerDefinition {
        env: environment(c.get("environment"), &path)?,
        ports: ports(c.get("portMappings"), &path)?,
        health: health(c.get("healthCheck"), &path)?,
        depends_on: depends_on(c.get("dependsOn"), &path)?,
        entrypoint: strings(c, "entryPoint", &path)?,
        command: strings(c, "command", &path)?,
        name,
        image,
        image_id: String::new(),
        essential,
        memory_mb,
    })
}

fn list<'a>(v: Option<&'a Value>, field: &str, path: &str) -> Result<&'a [Value], Invalid> {
    match v {
        None => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(invalid(format!("{path}{field} must be a list"))),
    }
}

fn environment(v: Option<&Value>, path: &str) -> Result<BTreeMap<String, String>, Invalid> {
    let mut env = BTreeMap::new();
    for (i, item) in list(v, "environment", path)?.iter().enumerate() {
        let at = format!("{path}environment[{i}].");
        let pair = object(item, &at)?;
        only(pair, &["name", "value"], &at)?;
        let name = string(pair, "name", &at)?.filter(|n| !n.contains('=')).ok_or_else(|| invalid(format!("{at}name must be a variable name")))?;
        let value = match pair.get("value") {
            Some(Value::String(s)) => s.clone(),
            None => String::new(),
            Some(_) => return Err(invalid(format!("{at}value must be a string"))),
        };
        env.insert(name, value);
    }
    Ok(env)
}

fn ports(v: Option<&Value>, path: &str) -> Result<Vec<u16>, Invalid> {
    let mut ports = Vec::new();
    for (i, item) in list(v, "portMappings", path)?.iter().enumerate() {
        let at = format!("{path}portMappings[{i}].");
        let mapping = object(item, &at)?;
        only(mapping, &["containerPort", "hostPort", "protocol"], &at)?;
        let port =
            number(mapping, "containerPort", &at)?.filter(|p| (1..=65535).contains(p)).ok_or_else(|| invalid(format!("{at}containerPort must be 1..65535")))?;
        if let Some(host) = number(mapping, "hostPort", &at)? {
            if host != port {
                return Err(invalid(format!("{at}hostPort must equal containerPort or be left out (Skiff publishes the port itself)")));
            }
        }
        if string(mapping, "protocol", &at)?.is_some_and(|p| p != "tcp") {
            return Err(invalid(format!("{at}protocol: only tcp is supported")));
        }
        ports.push(port as u16);
    }
    Ok(ports)
}

fn health(v: Option<&Value>, path: &str) -> Result<Option<ContainerHealth>, Invalid> {
    let Some(v) = v else { return Ok(None) };
    let at = format!("{path}healthCheck.");
    let h = object(v, &at)?;
    only(h, &["command", "interval", "timeout", "retries", "startPeriod"], &at)?;
    let command = strings(h, "command", &at)?.ok_or_else(|| invalid(format!("{at}command is required")))?;
    if !matches!(command.first().map(String::as_str), Some("CMD" | "CMD-SHELL")) || command.len() < 2 {
        return Err(invalid(format!("{at}command must start with CMD or CMD-SHELL, followed by the command")));
    }
    let bounded = |field: &str, default: u64, range: std::ops::RangeInclusive<u64>| -> Result<u32, Invalid> {
        let n = number(h, field, &at)?.unwrap_or(default);
        if range.contains(&n) {
            Ok(n as u32)
        } else {
            Err(invalid(format!("{at}{field} must be {}..{}", range.start(), range.end())))
        }
    };
    Ok(Some(ContainerHealth {
        command,
        interval_s: bounded("interval", 30, 5..=300)?,
        timeout_s: bounded("timeout", 5, 2..=60)?,
        retries: bounded("retries", 3, 1..=10)?,
        start_period_s: bounded("startPeriod", 0, 0..=300)?,
    }))
}

fn depends_on(v: Option<&Value>, path: &str) -> Result<Vec<Dependency>, Invalid> {
    list(v, "dependsOn", path)?
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let at = format!("{path}dependsOn[{i}].");
            let dep = object(item, &at)?;
            only(dep, &["containerName", "condition"], &at)?;
            let container = string(dep, "containerName", &at)?.ok_or_else(|| invalid(format!("{at}containerName is required")))?;
            let condition = dep.get("condition").cloned().unwrap_or(Value::String("START".into()));
            let condition = serde_json::from_value(condition).map_err(|_| invalid(format!("{at}condition must be START, COMPLETE, SUCCESS or HEALTHY")))?;
            Ok(Dependency { container, condition })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn app_and_sidecar() -> Value {
        json!({
            "family": "web",
            "cpu": "512", "memory": "1 GB",
            "containerDefinitions": [
                {"name": "app", "image": "app:1", "essential": true, "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
                 "environment": [{"name": "MODE", "value": "prod"}], "command": ["serve"],
                 "dependsOn": [{"containerName": "cache", "condition": "HEALTHY"}]},
                {"name": "cache", "image": "cache:1", "essential": false, "memory": 64,
                 "healthCheck": {"command": ["CMD-SHELL", "true"], "interval": 5}}
            ]
        })
    }

    #[test]
    fn an_ecs_definition_reads_into_containers_in_start_order() {
        let def = TaskDefinition::parse(&app_and_sidecar()).unwrap();
        assert_eq!((def.family.as_str(), def.memory_mb, def.cpu), ("web", 1024, 0.5));
        let (entry, port) = def.entry().unwrap();
        assert_eq!((entry.name.as_str(), port), ("app", 8080));
        assert_eq!(entry.env["MODE"], "prod");
        let order: Vec<&str> = start_order(&def.containers).unwrap().iter().map(|c| c.name.as_str()).collect();
        assert_eq!(order, ["cache", "app"]);
        assert_eq!(def.containers[1].health.as_ref().unwrap().interval_s, 5);
    }

    #[test]
    fn unsupported_fields_are_refused_by_their_path() {
        let refused = |edit: &dyn Fn(&mut Value)| {
            let mut def = app_and_sidecar();
            edit(&mut def);
            TaskDefinition::parse(&def).unwrap_err().to_string()
        };
        assert!(refused(&|d| d["networkMode"] = json!("awsvpc")).starts_with("networkMode is not supported"));
        let e = refused(&|d| d["containerDefinitions"][1]["logConfiguration"] = json!({}));
        assert!(e.starts_with("containerDefinitions[1].logConfiguration is not supported"), "{e}");
        let e = refused(&|d| d["containerDefinitions"][0]["portMappings"][0]["appProtocol"] = json!("http"));
        assert!(e.starts_with("containerDefinitions[0].portMappings[0].appProtocol is not supported"), "{e}");
        assert!(refused(&|d| d["containerDefinitions"][0]["dependsOn"][0]["containerName"] = json!("nope")).contains("names no other container"));
        assert!(refused(&|d| d["containerDefinitions"][1]["dependsOn"] = json!([{"containerName": "app"}])).contains("cycle"));
        assert!(refused(&|d| d["containerDefinitions"][0]["essential"] = json!(false)).contains("essential"));
        assert!(refused(&|d| d["containerDefinitions"][0]["portMappings"][0]["hostPort"] = json!(80)).contains("hostPort"));
        assert!(refused(&|d| {
            d.as_object_mut().unwrap().remove("memory");
        })
        .contains("memory is required"));
    }

    /// Found by fuzzing the live API: 4294967312 MiB was cut to 16 by a cast and accepted.
    #[test]
    fn numbers_past_their_type_are_refused_not_wrapped() {
        let mut def = app_and_sidecar();
        def["containerDefinitions"][1]["memory"] = json!(4_294_967_312u64);
        let e = TaskDefinition::parse(&def).unwrap_err().to_string();
        assert!(e.contains("containerDefinitions[1].memory must be 6..65536"), "{e}");
        let mut def = app_and_sidecar();
        def.as_object_mut().unwrap().remove("cpu");
        def["containerDefinitions"][0]["cpu"] = json!(u64::MAX);
        def["containerDefinitions"][1]["cpu"] = json!(2);
        assert!(TaskDefinition::parse(&def).is_err(), "a sum past u64 must not wrap into a small share");
    }
}
