#!/usr/bin/env bash
# Builds build/hello.wasm, a component in the standard wasi:http/proxy world (what Spin,
# `wasmtime serve` and jco run), with componentize-py. The WIT comes from the wasmtime-wasi-http
# crate the workspace depends on, so the component targets exactly the interfaces Skiff provides.
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd ../.. && pwd)
http_dir=$("$root/scripts/wasi-http-wit.sh")/deps
version=$(sed -n 's/^package wasi:http@\(.*\);/\1/p' "$http_dir/http.wit")
rm -rf build/wit && mkdir -p build/wit/deps
cp "$http_dir"/*.wit build/wit/deps/
cat > build/wit/world.wit <<WIT
package skiff:hello-http-py;

world hello-http {
  include wasi:http/proxy@$version;
}
WIT
componentize-py -d build/wit -w hello-http componentize app -o build/hello.wasm
