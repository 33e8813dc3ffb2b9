#!/usr/bin/env bash
# Builds what the examples and tests run:
# - the Wasm examples in functions/*/ (skipped when their output is newer than their sources;
#   the Python component takes a while),
# - the static skiff-agent that every function container runs as PID 1,
# - the Rust container functions (statically linked; cargo is incremental by itself), and
# - their images, FROM scratch, in the local Docker engine (no registry is ever contacted), and
# - the managed runtimes' images (runtimes/*), which zip functions' images derive from.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/functions"
triple="$(uname -m)-unknown-linux-gnu"

# Wasm examples: a build.sh and no Dockerfile.
for build in */build.sh fixtures/*/build.sh; do
  dir=$(dirname "$build")
  [ -f "$dir/Dockerfile" ] && continue
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

# Container examples: a Dockerfile, and a build.sh that makes what it copies (Rust functions
# share one cargo target dir).
export CARGO_TARGET_DIR="$root/target/functions"
images=()
for dockerfile in */Dockerfile fixtures/*/Dockerfile; do
  dir=$(dirname "$dockerfile")
  echo "functions/$dir: building"
  "./$dir/build.sh"
  case "$dir" in
    fixtures/*) images+=("skiff-tests/${dir#fixtures/}:latest=$dir") ;;
    *) images+=("skiff-examples/$dir:latest=$dir") ;;
  esac
done

# Managed runtimes for zip functions: runtimes/NAME becomes the image skiff-runtime/NAME.
for build in "$root"/runtimes/*/build.sh; do
  dir=$(dirname "$build")
  echo "runtimes/$(basename "$dir"): building"
  "$build"
  images+=("skiff-runtime/$(basename "$dir"):latest=$dir")
done

if docker info >/dev/null 2>&1; then
  # The classic builder: it needs no buildx plugin, and FROM scratch needs no registry.
  for image in "${images[@]}"; do
    out=$(DOCKER_BUILDKIT=0 docker build -q -t "${image%%=*}" "${image#*=}" 2>&1) || { echo "$out" >&2; exit 1; }
    echo "image ${image%%=*}"
  done
else
  echo "images: skipped (no Docker engine reachable; scripts/start-services.sh starts one)"
fi
