#!/usr/bin/env bash
# Assembles a root filesystem for `FROM scratch` without pulling any base image: Skiff's
# python3.11 runtime (runtimes/python3.11: Debian's python3.11, awslambdaric from PyPI and the
# shared libraries they load) with the handler in /var/task.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
"$here/../../runtimes/python3.11/build.sh" "$here/rootfs"
cp "$here/app.py" "$here/rootfs/var/task/"
