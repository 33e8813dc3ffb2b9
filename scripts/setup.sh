#!/usr/bin/env bash
# What both the demo and the test suite need first: installs what is missing, starts the Docker
# engine if it is not running, builds the example functions, the agent and images, and the
# release binary.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/start-services.sh
scripts/build-functions.sh
cargo build --release --locked
