use super::checksum;
use super::compiler::Compiler;
use super::precompile::CodeKind;
use crate::WorkerError;
use std::io::Write;
use std::path::Path;
use wasmtime::component::Component;
use wasmtime::{Engine, Module, Precompiled};

/// Compiled guest code, backed by a memory-mapped artifact in the cache when one could be written,
/// so linear-memory images are copy-on-write and shared by all instances.
#[derive(Clone)]
pub enum CompiledCode {
    Module(Module),
    Component(Component),
}

impl CompiledCode {
    pub fn kind(&self) -> CodeKind {
        match self {
            CompiledCode::Module(_) => CodeKind::Module,
            CompiledCode::Component(_) => CodeKind::Component,
        }
    }
}

pub(crate) fn load_or_compile(engine: &Engine, compiler: (&Compiler, &[String]), cache_path: &Path, code: &[u8]) -> Result<CompiledCode, WorkerError> {
    if let Some(compiled) = load_cached(engine, cache_path) {
        return Ok(compiled);
    }
    let artifact = compiler.0.precompile(engine, compiler.1, code)?;
    let kind = match Engine::detect_precompiled(&artifact) {
        Some(Precompiled::Module) => CodeKind::Module,
        Some(Precompiled::Component) => CodeKind::Component,
        None => return Err(WorkerError::Internal("the compiler's output is not a compiled artifact".into())),
    };
    // Loading checks what compiling does not: that the code fits the instance pool (its tables,
    // memories, instance sizes). Code that does not is the deployer's error, named as such, and
    // never reaches the cache.
    let loaded =
        deserialize_in_memory(engine, kind, &artifact).map_err(|e| WorkerError::InvalidCode(format!("the code exceeds the server's instance limits: {e}")))?;
    match write_atomically(cache_path, &artifact) {
        // Mapped from the file: linear-memory images are then shared copy-on-write.
        Ok(()) => Ok(load_cached(engine, cache_path).unwrap_or(loaded)),
        Err(e) => {
            tracing::warn!(path = %cache_path.display(), error = %e, "cannot cache compiled wasm");
            Ok(loaded)
        }
    }
}

/// Removes one artifact and its checksum; one already gone is fine.
pub(crate) fn remove(path: &Path) {
    for path in [path.to_path_buf(), checksum::sum_path(path)] {
        if let Err(e) = std::fs::remove_file(&path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(path = %path.display(), "cannot remove a compiled artifact: {e}");
            }
        }
    }
}

/// Removes what no engine of this configuration will load: artifacts of another wasmtime
/// version or configuration (their fingerprint is in the name), and temporary files a crash
/// left mid-write.
pub(crate) fn sweep(dir: &Path, fingerprint: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let current = format!("-{fingerprint}.cwasm");
    let current_sum = format!("{current}.blake3");
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.ends_with(&current) && !name.ends_with(&current_sum) {
            remove(&entry.path());
        }
    }
}

/// Returns the cached artifact if it exists, is intact and this engine can run it. Anything else
/// (missing, truncated, damaged, another engine's) is treated as a cache miss; a damaged one is
/// removed, so the code is compiled again from its blob.
pub(crate) fn load_cached(engine: &Engine, cache_path: &Path) -> Option<CompiledCode> {
    let kind = Engine::detect_precompiled_file(cache_path).ok().flatten()?;
    match checksum::verify(cache_path) {
        Ok(()) => {}
        // Artifacts written before sums were kept: expected once, after an upgrade.
        Err(e @ checksum::Untrusted::NoSum(_)) => {
            tracing::info!(path = %cache_path.display(), "compiling a cached artifact again: {e}");
            remove(cache_path);
            return None;
        }
        Err(e) => {
            tracing::error!(path = %cache_path.display(), "not loading a compiled artifact, compiling again: {e}");
            remove(cache_path);
            return None;
        }
    }
    // SAFETY: deserialization trusts the artifact's machine code. Files under the cache directory
    // are written only by `write_atomically` from `Engine::precompile_*` output of an engine with
    // the same compatibility fingerprint (it is part of the file name), the bytes were just
    // checked against the sum written with them, and wasmtime re-checks compatibility in the
    // header before mapping anything.
    let loaded = unsafe {
        match kind {
            Precompiled::Module => Module::deserialize_file(engine, cache_path).map(CompiledCode::Module),
            Precompiled::Component => Component::deserialize_file(engine, cache_path).map(CompiledCode::Component),
        }
    };
    match loaded {
        Ok(code) => Some(code),
        Err(e) => {
            tracing::warn!(path = %cache_path.display(), error = %e, "ignoring unusable cached artifact");
            None
        }
    }
}

fn deserialize_in_memory(engine: &Engine, kind: CodeKind, artifact: &[u8]) -> Result<CompiledCode, WorkerError> {
    // SAFETY: `artifact` was produced a moment ago by this engine's precompile_*, or by a
    // compiler child of this binary with the same engine settings (wasmtime checks the header).
    let loaded = unsafe {
        match kind {
            CodeKind::Module => Module::deserialize(engine, artifact).map(CompiledCode::Module),
            CodeKind::Component => Component::deserialize(engine, artifact).map(CompiledCode::Component),
        }
    };
    loaded.map_err(|e| WorkerError::Internal(format!("loading compiled wasm: {e:#}")))
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    checksum::write(path, bytes)
}
