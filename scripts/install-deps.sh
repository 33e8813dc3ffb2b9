#!/usr/bin/env bash
# Installs what building the examples and running the tests need, only where missing:
# clang/lld/wasi-libc (C -> Wasm), wabt (WAT tools), promtool (metrics check), componentize-py,
# the Docker engine (container functions).
set -euo pipefail

apt_packages=(curl clang lld wasi-libc libclang-rt-dev-wasm32 wabt prometheus)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

componentize_version=0.25.1
if ! componentize-py --version 2>/dev/null | grep -q "$componentize_version"; then
  echo "installing componentize-py $componentize_version"
  python3 -m pip install --quiet --disable-pip-version-check "componentize-py==$componentize_version"
  hash -r
fi

if ! python3 -c "import boto3" 2>/dev/null; then
  echo "installing boto3 (the AWS SDK the compatibility tests drive)"
  python3 -m pip install --quiet --disable-pip-version-check "boto3==1.*"
fi

if ! command -v cargo-nextest >/dev/null 2>&1; then
  cargo install --locked cargo-nextest
fi
