#!/usr/bin/env bash
# The whole test suite, from a fresh machine: checks the formatting (rustfmt.toml), installs
# what is missing, builds the example functions and the release binary, then runs every unit and
# integration test.
set -euo pipefail
cd "$(dirname "$0")/.."
if cargo fmt --version >/dev/null 2>&1; then
    cargo fmt --all --check || { echo "formatting differs from rustfmt.toml: run cargo fmt --all" >&2; exit 1; }
fi
scripts/setup.sh
cargo nextest run --release --locked --workspace --no-fail-fast "$@"
