#!/usr/bin/env bash
# Builds every example function in functions/*/ that has a build.sh, skipping those whose output
# is newer than their sources (the Python component takes a while).
set -euo pipefail
cd "$(dirname "$0")/../functions"
for build in */build.sh; do
  dir=$(dirname "$build")
  out="$dir/build/hello.wasm"
  if [ -f "$out" ] && [ -z "$(find "$dir" -path "$dir/build" -prune -o -newer "$out" -type f -print)" ]; then
    echo "functions/$dir: up to date"
    continue
  fi
  echo "functions/$dir: building"
  "./$build"
done
