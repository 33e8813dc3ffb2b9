#!/usr/bin/env bash
# Builds build/hello.wasm, a wasi:http/proxy component in C: tools/c-component generates the C
# bindings of the world (wit-bindgen's C generator: a .c, a .h and the world's type as an object),
# Debian's clang + wasi-libc compile hello.c to a core module, and tools/c-component wraps it
# into a component with wasmtime's preview 1 proxy adapter. The WIT comes from the wasmtime-wasi-http crate the workspace depends on, as
# for hello-http-py.
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd ../.. && pwd)
wit=$("$root/scripts/wasi-http-wit.sh")
world="wasmtime:wasi-http/bindings"
tool() { cargo run --quiet --release --locked --manifest-path "$root/Cargo.toml" -p skiff-c-component -- "$@"; }
mkdir -p build
tool bindings "$wit" "$world" build
clang --target=wasm32-wasi --sysroot=/usr -O2 -Wall -Werror -mexec-model=reactor -Ibuild \
  hello.c build/bindings.c build/bindings_component_type.o -o build/core.wasm
tool wrap build/core.wasm build/hello.wasm
