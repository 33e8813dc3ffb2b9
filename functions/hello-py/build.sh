#!/usr/bin/env bash
# Builds hello.wasm, a WASI preview 2 component in the wasi:cli/command world, with componentize-py.
# The WASI WIT comes from the wasmtime-wasi crate the workspace already depends on, so the
# component targets exactly the interfaces the server provides.
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd ../.. && pwd)
wasi_dir=$(cargo metadata --manifest-path "$root/Cargo.toml" --format-version 1 \
  | python3 -c 'import json,sys; m=json.load(sys.stdin); print(next(p["manifest_path"] for p in m["packages"] if p["name"]=="wasmtime-wasi"))' \
  | xargs dirname)/src/p2/wit/deps
version=$(sed -n 's/^package wasi:cli@\(.*\);/\1/p' "$wasi_dir/cli.wit")
mkdir -p build/wit/deps
cp "$wasi_dir"/*.wit build/wit/deps/
cat > build/wit/world.wit <<WIT
package skiff:hello-py;

world hello {
  include wasi:cli/command@$version;
}
WIT
componentize-py -d build/wit -w hello componentize app -o build/hello.wasm
