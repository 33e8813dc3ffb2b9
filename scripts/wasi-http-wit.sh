#!/usr/bin/env bash
# Prints the directory of the WIT that the workspace's wasmtime-wasi-http crate implements, so
# that the wasi:http examples target exactly the interfaces Skiff provides.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cargo metadata --manifest-path "$root/Cargo.toml" --format-version 1 \
  | python3 -c 'import json,sys; m=json.load(sys.stdin); print(next(p["manifest_path"] for p in m["packages"] if p["name"]=="wasmtime-wasi-http"))' \
  | xargs dirname | sed 's|$|/wit|'
