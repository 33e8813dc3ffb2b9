#!/usr/bin/env bash
# Builds what the examples and tests run:
# - the Wasm examples in functions/*/ (skipped when their output is newer than their sources;
#   the Python component takes a while),
# - the static skiff-agent that every function container runs as PID 1,
# - the Rust container functions (statically linked; cargo is incremental by itself), and
# - their images, FROM scratch, in the local Docker engine (no registry is ever contacted).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/functions"
triple="$(uname -m)-unknown-linux-gnu"

for build in */build.sh fixtures/*/build.sh; do
  dir=$(dirname "$build")
  [ -f "$dir/Cargo.toml" ] && continue
  out="$dir/build/hello.wasm"
  if [ -f "$out" ] && [ -z "$(find "$dir" -path "$dir/build" -prune -o -newer "$out" -type f -print)" ]; then
    echo "functions/$dir: up to date"
    continue
  fi
  echo "functions/$dir: building"
  "./$build"
done

echo "skiff-agent: building (static)"
(cd "$root" && RUSTFLAGS='-C target-feature=+crt-static' \
  cargo build --release --locked -p skiff-agent --target "$triple")

export CARGO_TARGET_DIR="$root/target/functions"
for manifest in */Cargo.toml fixtures/*/Cargo.toml; do
  dir=$(dirname "$manifest")
  echo "functions/$dir: building (static)"
  "./$dir/build.sh"
done

if docker info >/dev/null 2>&1; then
  # The classic builder: it needs no buildx plugin, and FROM scratch needs no registry.
  build_image() { # tag, folder
    local out
    out=$(DOCKER_BUILDKIT=0 docker build -q -t "$1" "$2" 2>&1) || { echo "$out" >&2; exit 1; }
  }
  build_image skiff-examples/hello-rust:latest hello-rust
  build_image skiff-tests/probe:latest fixtures/probe
  echo "images: skiff-examples/hello-rust:latest skiff-tests/probe:latest"
else
  echo "images: skipped (no Docker engine reachable; scripts/start-services.sh starts one)"
fi
