//! The function's new config from a deploy request and its current config: pure, so the rules
//! (what carries over, what takes a default, what is refused) are tested without a server.

use crate::error::InvokerError;
use sha2::{Digest, Sha256};
use skiff_api::function::{DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_S};
use skiff_api::{CodeInfo, DeployRequest, Destination, FunctionConfig, UrlConfig, ZipInfo};

/// The zip package `request` leaves the function with: a new zip (its runtime and handler from
/// the request or else the function's), the current one with a changed handler, or none (the
/// request sends Wasm or an image, or the function is not a zip function).
pub(crate) fn zip_info(request: &DeployRequest, old: Option<&FunctionConfig>) -> Result<Option<ZipInfo>, InvokerError> {
    let current = old.and_then(|o| o.zip.as_ref());
    if request.wasm.is_some() || request.image.is_some() {
        return Ok(None);
    }
    let pick = |given: &Option<String>, kept: Option<&String>, field: &str| {
        given.clone().or(kept.cloned()).ok_or_else(|| InvokerError::invalid(format!("{field} is required for a zip function")))
    };
    match (&request.zip, current) {
        (Some(zip), _) => Ok(Some(ZipInfo {
            sha256: hex::encode(Sha256::digest(zip)),
            size: zip.len() as u64,
            runtime: pick(&request.runtime, current.map(|c| &c.runtime), "Runtime")?,
            handler: pick(&request.handler, current.map(|c| &c.handler), "Handler")?,
        })),
        (None, Some(current)) => Ok(Some(ZipInfo { handler: request.handler.clone().unwrap_or_else(|| current.handler.clone()), ..current.clone() })),
        (None, None) => Ok(None),
    }
}

/// `request` applied over `old` (none on create) with the code it resolved to.
pub(crate) fn merged(
    request: &DeployRequest,
    old: Option<&FunctionConfig>,
    code: CodeInfo,
    zip: Option<ZipInfo>,
    now: u64,
) -> Result<FunctionConfig, InvokerError> {
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
        zip,
        published: None,
        last_published: old.map_or(0, |o| o.last_published),
        url: match request.url {
            None => old.and_then(|o| o.url.clone()),
            Some(None) => None,
            Some(Some(auth)) => Some(UrlConfig::set(old.and_then(|o| o.url.as_ref()), auth, now)),
        },
        reuse: request.reuse.unwrap_or(old.and_then(|o| o.reuse)),
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
    if is_image && config.reuse.is_some() {
        return Err(InvokerError::invalid("reuse applies to Wasm functions only (container functions keep their containers warm already)"));
    }
    if let Some(c) = config.concurrency.filter(|c| config.provisioned > *c) {
        return Err(InvokerError::invalid(format!("provisioned concurrency {} exceeds the function's concurrency {c}", config.provisioned)));
    }
    if config.events.on_success == Some(Destination::Function(config.name.clone())) {
        return Err(InvokerError::invalid("a function cannot be its own on-success destination"));
    }
    Ok(())
}

/// Refuses a deploy whose on-success destination leads, through the destinations of deployed
/// functions (`destination_of`), back to the function itself: such a chain would run forever.
/// Loops made by concurrent deploys on different nodes are not visible here; the hop bound on
/// events stops those.
pub(super) fn refuse_destination_loop(config: &FunctionConfig, destination_of: impl Fn(&str) -> Option<Destination>) -> Result<(), InvokerError> {
    let mut chain = vec![config.name.clone()];
    let mut next = config.events.on_success.clone();
    while let Some(Destination::Function(name)) = next {
        if chain.contains(&name) {
            chain.push(name.clone());
            let first = chain.iter().position(|n| *n == name).unwrap_or(0);
            return Err(InvokerError::invalid(format!("on-success destinations would form a loop: {}", chain[first..].join(" → "))));
        }
        next = destination_of(&name);
        chain.push(name);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn destination_loops_are_refused_with_their_path() {
        let mut a = merged(&DeployRequest { name: "a".into(), ..Default::default() }, None, wasm(), None, 0).unwrap();
        a.events.on_success = Some(Destination::Function("b".into()));
        let deployed = |links: &'static [(&'static str, &'static str)]| {
            move |name: &str| links.iter().find(|(from, _)| *from == name).map(|(_, to)| Destination::Function((*to).into()))
        };
        let err = refuse_destination_loop(&a, deployed(&[("b", "c"), ("c", "a")])).unwrap_err();
        assert!(err.to_string().contains("a → b → c → a"), "{err}");
        assert!(refuse_destination_loop(&a, deployed(&[("b", "c"), ("c", "d")])).is_ok());
        // A loop further down that does not come back to `a` is not a's to refuse, and ends.
        let err = refuse_destination_loop(&a, deployed(&[("b", "c"), ("c", "b")])).unwrap_err();
        assert!(err.to_string().contains("b → c → b"), "{err}");
        a.events.on_success = Some(Destination::Queue("q".into()));
        assert!(refuse_destination_loop(&a, deployed(&[])).is_ok());
    }

    use super::*;
    use skiff_api::function::WasmFormat;

    fn wasm() -> CodeInfo {
        CodeInfo::Wasm { sha256: "ab".into(), size: 1, format: WasmFormat::Module }
    }

    #[test]
    fn updates_keep_unset_settings_and_container_settings_stay_with_containers() {
        let create = DeployRequest { name: "f".into(), memory_mb: Some(256), ..Default::default() };
        let v1 = merged(&create, None, CodeInfo::Image { image: "i".into(), id: "sha256:1".into() }, None, 10).unwrap();
        assert_eq!((v1.version, v1.memory_mb, v1.timeout_s, v1.created_at_ms), (1, 256, DEFAULT_TIMEOUT_S, 10));
        let scale = DeployRequest { name: "f".into(), provisioned: Some(2), ..Default::default() };
        let v2 = merged(&scale, Some(&v1), v1.code.clone(), None, 20).unwrap();
        assert_eq!((v2.version, v2.memory_mb, v2.provisioned, v2.created_at_ms, v2.updated_at_ms), (2, 256, 2, 10, 20));
        // To Wasm: the provisioned count does not carry over (it would be refused).
        let to_wasm = merged(&DeployRequest { name: "f".into(), ..Default::default() }, Some(&v2), wasm(), None, 30).unwrap();
        assert_eq!(to_wasm.provisioned, 0);
    }

    #[test]
    fn a_zip_keeps_its_runtime_and_handler_until_told_otherwise() {
        let create = DeployRequest {
            name: "f".into(),
            zip: Some(bytes::Bytes::from_static(b"PK")),
            runtime: Some("python3.11".into()),
            handler: Some("app.handler".into()),
            ..Default::default()
        };
        let first = zip_info(&create, None).unwrap().unwrap();
        let old = FunctionConfig { zip: Some(first.clone()), ..merged(&create, None, wasm(), Some(first.clone()), 0).unwrap() };
        let new_code = DeployRequest { name: "f".into(), zip: Some(bytes::Bytes::from_static(b"PK2")), ..Default::default() };
        let second = zip_info(&new_code, Some(&old)).unwrap().unwrap();
        assert_eq!((second.runtime.as_str(), second.handler.as_str(), second.size), ("python3.11", "app.handler", 3));
        assert_ne!(second.sha256, first.sha256);
        let rename = DeployRequest { name: "f".into(), handler: Some("main.run".into()), ..Default::default() };
        assert_eq!(zip_info(&rename, Some(&old)).unwrap().unwrap().handler, "main.run");
        let to_image = DeployRequest { name: "f".into(), image: Some("i".into()), ..Default::default() };
        assert_eq!(zip_info(&to_image, Some(&old)).unwrap(), None);
        let no_runtime = DeployRequest { runtime: None, ..create };
        assert!(zip_info(&no_runtime, None).is_err());
    }

    #[test]
    fn bad_combinations_are_refused() {
        let egress = DeployRequest { name: "f".into(), egress: Some(true), ..Default::default() };
        assert!(merged(&egress, None, wasm(), None, 0).is_err());
        let mut own = DeployRequest { name: "f".into(), ..Default::default() };
        own.events.on_success = Some(Some(Destination::Function("f".into())));
        assert!(merged(&own, None, wasm(), None, 0).is_err());
    }
}
