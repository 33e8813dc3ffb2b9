#!/usr/bin/env bash
# Builds hello.wasm (a WASI preview 1 command) with Debian's clang, lld and wasi-libc.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p build
clang --target=wasm32-wasi --sysroot=/usr -O2 -Wall -Werror hello.c -o build/hello.wasm
