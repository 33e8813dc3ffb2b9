//! The function's new config from a deploy request and its current config: pure, so the rules
//! (what carries over, what takes a default, what is refused) are tested without a server.

use crate::InvokerError;
use skiff_api::function::{DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_S};
use skiff_api::{CodeInfo, DeployRequest, Destination, FunctionConfig};

/// `request` applied over `old` (none on create) with the code it resolved to.
pub(crate) fn merged(request: &DeployRequest, old: Option<&FunctionConfig>, code: CodeInfo, now: u64) -> Result<FunctionConfig, InvokerError> {
    // Container-only settings carry over only while the function stays a container function.
    let kind = std::mem::discriminant(&code);
    let same_kind = |o: &&FunctionConfig| std::mem::discriminant(&o.code) == kind;
    let config = FunctionConfig {
        name: request.name.clone(),
        code,
        memory_mb: request.memory_mb.or(old.map(|o| o.memory_mb)).unwrap_or(DEFAULT_MEMORY_MB),
        timeout_s: request.timeout_s.or(old.map(|o| o.timeout_s)).unwrap_or(DEFAULT_TIMEOUT_S),
        concurrency: request.concurrency.unwrap_or(old.and_then(|o| o.concurrency)),
        env: request.env.clone().or(old.map(|o| o.env.clone())).unwrap_or_default(),
        egress: request.egress.or(old.filter(same_kind).map(|o| o.egress)).unwrap_or(false),
        provisioned: request.provisioned.or(old.filter(same_kind).map(|o| o.provisioned)).unwrap_or(0),
        events: request.events.apply(old.map(|o| &o.events)),
        role: request.role.clone().or(old.and_then(|o| o.role.clone())),
        description: request.description.clone().or(old.map(|o| o.description.clone())).unwrap_or_default(),
        revision_id: uuid::Uuid::new_v4().to_string(),
        version: old.map_or(1, |o| o.version + 1),
        published: None,
        last_published: old.map_or(0, |o| o.last_published),
        created_at_ms: old.map_or(now, |o| o.created_at_ms),
        updated_at_ms: now,
    };
    check(&config)?;
    Ok(config)
}

/// Settings that only mean something for containers are refused on Wasm functions, the
/// provisioned count must fit the function's concurrency, and a function is not its own
/// destination.
fn check(config: &FunctionConfig) -> Result<(), InvokerError> {
    let is_image = matches!(config.code, CodeInfo::Image { .. });
    if !is_image && (config.provisioned > 0 || config.egress) {
        return Err(InvokerError::invalid(
            "provisioned concurrency and egress apply to container functions only (Wasm instances start in microseconds and have no network)",
        ));
    }
    if let Some(c) = config.concurrency.filter(|c| config.provisioned > *c) {
        return Err(InvokerError::invalid(format!("provisioned concurrency {} exceeds the function's concurrency {c}", config.provisioned)));
    }
    if config.events.on_success == Some(Destination::Function(config.name.clone())) {
        return Err(InvokerError::invalid("a function cannot be its own on-success destination"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_api::function::WasmFormat;

    fn wasm() -> CodeInfo {
        CodeInfo::Wasm { sha256: "ab".into(), size: 1, format: WasmFormat::Module }
    }

    #[test]
    fn updates_keep_unset_settings_and_container_settings_stay_with_containers() {
        let create = DeployRequest { name: "f".into(), memory_mb: Some(256), ..Default::default() };
        let v1 = merged(&create, None, CodeInfo::Image { image: "i".into(), id: "sha256:1".into() }, 10).unwrap();
        assert_eq!((v1.version, v1.memory_mb, v1.timeout_s, v1.created_at_ms), (1, 256, DEFAULT_TIMEOUT_S, 10));
        let scale = DeployRequest { name: "f".into(), provisioned: Some(2), ..Default::default() };
        let v2 = merged(&scale, Some(&v1), v1.code.clone(), 20).unwrap();
        assert_eq!((v2.version, v2.memory_mb, v2.provisioned, v2.created_at_ms, v2.updated_at_ms), (2, 256, 2, 10, 20));
        // To Wasm: the provisioned count does not carry over (it would be refused).
        let to_wasm = merged(&DeployRequest { name: "f".into(), ..Default::default() }, Some(&v2), wasm(), 30).unwrap();
        assert_eq!(to_wasm.provisioned, 0);
    }

    #[test]
    fn bad_combinations_are_refused() {
        let egress = DeployRequest { name: "f".into(), egress: Some(true), ..Default::default() };
        assert!(merged(&egress, None, wasm(), 0).is_err());
        let mut own = DeployRequest { name: "f".into(), ..Default::default() };
        own.events.on_success = Some(Some(Destination::Function("f".into())));
        assert!(merged(&own, None, wasm(), 0).is_err());
    }
}
