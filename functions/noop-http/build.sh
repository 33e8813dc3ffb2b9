#!/usr/bin/env bash
# Builds build/hello.wasm, a no-op wasi:http/proxy component, from noop.wat: the WAT core module
# is wrapped into a component of the world (tools/wat-component). The WIT comes from the
# wasmtime-wasi-http crate the workspace depends on, as for hello-http-py.
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd ../.. && pwd)
http_dir=$("$root/scripts/wasi-http-wit.sh")
mkdir -p build
cargo run --quiet --release --locked --manifest-path "$root/Cargo.toml" -p skiff-wat-component -- \
  "$http_dir" "wasmtime:wasi-http/bindings" noop.wat build/hello.wasm
