//! Turning what a deployer sent (binary Wasm or WAT) into a compiled artifact: the work that
//! runs in the compiler child, or in-process where there is none. Depends on nothing else of the
//! backend but the deploy bounds.

use crate::WorkerError;
use wasmtime::Engine;

/// Which of the two accepted shapes a guest has (brief §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeKind {
    /// A WASI preview 1 core module exporting `_start`.
    Module,
    /// A WASI preview 2 component in the `wasi:cli/command` world.
    Component,
}

/// Checks `code` (binary or WAT) against the deploy bounds and compiles it for `engine`: the
/// work a compiler child does.
pub(crate) fn precompile(engine: &Engine, code: &[u8]) -> Result<Vec<u8>, WorkerError> {
    let binary = to_binary(code)?;
    let kind = code_kind(&binary)?;
    super::bounds::check(&binary)?;
    match kind {
        CodeKind::Module => engine.precompile_module(&binary),
        CodeKind::Component => engine.precompile_component(&binary),
    }
    .map_err(|e| WorkerError::InvalidCode(format!("{e:#}")))
}

/// Binary Wasm as is; anything else must be WAT text (handy for small functions and fixtures).
fn to_binary(code: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, WorkerError> {
    if code.starts_with(b"\0asm") {
        return Ok(code.into());
    }
    wat::parse_bytes(code).map_err(|e| {
        let first_line = e.to_string().lines().next().unwrap_or_default().to_string();
        WorkerError::InvalidCode(format!("neither a wasm binary (no \\0asm header) nor valid WAT text ({first_line})"))
    })
}

/// Tells a core module from a component by the binary header's version/layer field.
pub(crate) fn code_kind(binary: &[u8]) -> Result<CodeKind, WorkerError> {
    match binary {
        [0, b'a', b's', b'm', 1, 0, 0, 0, ..] => Ok(CodeKind::Module),
        [0, b'a', b's', b'm', _, _, 1, 0, ..] => Ok(CodeKind::Component),
        [0, b'a', b's', b'm', ..] => Err(WorkerError::InvalidCode("unsupported wasm binary version".into())),
        _ => Err(WorkerError::InvalidCode("not a wasm binary (bad magic number)".into())),
    }
}
