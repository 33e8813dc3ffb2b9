#!/usr/bin/env bash
# Installs what building the examples and running the tests need, only where missing:
# clang/lld/wasi-libc (C -> Wasm), wabt (WAT tools), promtool (metrics check), Debian's python3.11
# (the Python container example's interpreter), componentize-py,
# the Docker engine (container functions), RabbitMQ (async invocations, queue triggers) and pika
# (the independent publisher the trigger tests use), protoc with its well-known types (the etcd
# client is generated from etcd's protos at build time), etcd and an OCI registry (the cluster tests),
# nginx (the reverse proxy the services benchmark measures /svc against).
set -euo pipefail

apt_packages=(curl clang lld wasi-libc libclang-rt-dev-wasm32 wabt prometheus python3.11 protobuf-compiler libprotobuf-dev etcd-server etcd-client docker-registry)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
updated=""
apt_install() { # [--no-install-recommends] packages...
  [ -n "$updated" ] || { $sudo_cmd apt-get update -qq; updated=1; }
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "$@" >/dev/null
}
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  apt_install --no-install-recommends "${missing[@]}"
fi
# The Docker engine with its recommended helpers (cgroupfs-mount, pigz, ...), as tested here.
if ! command -v dockerd >/dev/null 2>&1; then
  echo "installing: docker.io"
  apt_install docker.io
fi

if ! command -v rabbitmq-server >/dev/null 2>&1; then
  echo "installing: rabbitmq-server"
  # Debian's package tries to start the broker as a service; scripts/start-services.sh starts it
  # bound to loopback instead, so keep the package's own start out of the way.
  printf '#!/bin/sh\nexit 101\n' | $sudo_cmd tee /usr/sbin/policy-rc.d >/dev/null
  $sudo_cmd chmod +x /usr/sbin/policy-rc.d
  apt_install rabbitmq-server
  $sudo_cmd rm -f /usr/sbin/policy-rc.d
fi

if ! command -v nginx >/dev/null 2>&1; then
  echo "installing: nginx"
  # Like RabbitMQ: the benchmark starts its own nginx on a loopback port, never the package's.
  printf '#!/bin/sh\nexit 101\n' | $sudo_cmd tee /usr/sbin/policy-rc.d >/dev/null
  $sudo_cmd chmod +x /usr/sbin/policy-rc.d
  apt_install --no-install-recommends nginx
  $sudo_cmd rm -f /usr/sbin/policy-rc.d
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

if ! command -v aws >/dev/null 2>&1; then
  echo "installing the AWS CLI (its Lambda commands and waiters are tested against the gateway)"
  python3 -m pip install --quiet --disable-pip-version-check "awscli==1.*"
  hash -r
fi

if ! python3 -c "import pika" 2>/dev/null; then
  echo "installing pika (an independent AMQP publisher for the trigger tests)"
  python3 -m pip install --quiet --disable-pip-version-check "pika==1.*"
fi

if ! command -v st >/dev/null 2>&1 || ! python3 -c "import schemathesis" 2>/dev/null; then
  echo "installing schemathesis (drives the native API from docs/openapi.json in the test suite)"
  python3 -m pip install --quiet --disable-pip-version-check "schemathesis==4.32.*"
  hash -r
fi

if ! command -v cargo-nextest >/dev/null 2>&1; then
  cargo install --locked cargo-nextest
fi
