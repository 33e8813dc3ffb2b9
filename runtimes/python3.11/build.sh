#!/usr/bin/env bash
# Lambda's python3.11 runtime, assembled without pulling any base image: Debian's python3.11 and
# its standard library, AWS's runtime client (awslambdaric, unmodified, from PyPI) in
# /var/runtime, and exactly the shared libraries they load (found with ldd), under ROOT
# (default: rootfs/ beside this script). A function's code goes in /var/task, layers in /opt.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
py=/usr/bin/python3.11
root="${1:-$here/rootfs}"
rm -rf "$root"
mkdir -p "$root/usr/bin" "$root/usr/lib" "$root/var/task" "$root/var/runtime" "$root/opt" "$root/tmp"
# The function runs as an unprivileged user: /tmp (a tmpfs that takes this mode) is everyone's.
chmod 1777 "$root/tmp"
cp "$py" "$root/usr/bin/python3.11"
# The standard library, without what a function never imports.
tar -C /usr/lib --exclude='python3.11/test' --exclude='python3.11/idlelib' --exclude='python3.11/tkinter' \
  --exclude='python3.11/ensurepip' --exclude='python3.11/lib2to3' --exclude='__pycache__' \
  --exclude='python3.11/config-*' --exclude='python3.11/site-packages' --exclude='python3.11/dist-packages' \
  -cf - python3.11 | tar -C "$root/usr/lib" -xf -
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-compile --target "$root/var/runtime" \
  --only-binary=:all: --platform manylinux2014_x86_64 --python-version 3.11 --implementation cp \
  "awslambdaric==4.*"
# Every shared library the interpreter and the extension modules load, at the same paths.
find "$root" -name '*.so*' -type f -print0 | xargs -0 -r ldd 2>/dev/null | cat - <(ldd "$py") \
  | awk '/=> \// { print $3 } /^\s*\/lib/ { print $1 }' | sort -u | while read -r lib; do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
mkdir -p "$root/lib64"
cp -L /lib64/ld-linux-x86-64.so.2 "$root/lib64/"
# Readable by the unprivileged user the function runs as, whatever umask built it.
chmod -R a+rX "$root"
