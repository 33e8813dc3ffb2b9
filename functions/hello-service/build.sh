#!/usr/bin/env bash
# Builds the static `hello-service` binary the Dockerfile copies. Set CARGO_TARGET_DIR to share
# a build dir between examples.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
triple="$(uname -m)-unknown-linux-gnu"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$here/target}"
RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --locked \
  --manifest-path "$here/Cargo.toml" --target "$triple"
install -m 0755 "$CARGO_TARGET_DIR/$triple/release/hello-service" "$here/hello-service"
