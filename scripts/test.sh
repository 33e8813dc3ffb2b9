#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what is missing, builds the example
# functions and the release binary, then runs every unit and integration test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo nextest run --release --locked --workspace --no-fail-fast "$@"
