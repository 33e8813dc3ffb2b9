//! The Wasm backend: one shared wasmtime [`Engine`](wasmtime::Engine) with the pooling allocator,
//! compiled artifacts cached on disk, and a pre-instantiated template per function version from
//! which every invocation gets a fresh instance.

mod artifact;
mod bounds;
mod checksum;
mod compiler;
mod engine;
mod guest;
mod http;
mod limiter;
mod linking;
mod log_pipe;
mod precompile;
mod run;
mod warm;

pub use artifact::CompiledCode;
pub use compiler::{child_main, CompileLimits, Compiler};
pub use engine::{compiler_engine, EngineOptions, WasmBackend};
pub use guest::WasmFunction;
pub use precompile::CodeKind;
