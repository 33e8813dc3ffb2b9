#!/usr/bin/env bash
# Assembles a root filesystem for `FROM scratch` without pulling any base image: Debian's
# python3.11 and its standard library, AWS's runtime client (awslambdaric) from PyPI, the handler,
# and exactly the shared libraries all of those load (found with ldd).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
py=/usr/bin/python3.11
root="$here/rootfs"
rm -rf "$root"
mkdir -p "$root/usr/bin" "$root/usr/lib" "$root/var/task" "$root/tmp"
cp "$py" "$root/usr/bin/python3.11"
# The standard library, without what a function never imports.
tar -C /usr/lib --exclude='python3.11/test' --exclude='python3.11/idlelib' --exclude='python3.11/tkinter' \
  --exclude='python3.11/ensurepip' --exclude='python3.11/lib2to3' --exclude='__pycache__' \
  --exclude='python3.11/config-*' --exclude='python3.11/site-packages' --exclude='python3.11/dist-packages' \
  -cf - python3.11 | tar -C "$root/usr/lib" -xf -
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-compile --target "$root/var/task" \
  --only-binary=:all: --platform manylinux2014_x86_64 --python-version 3.11 --implementation cp \
  "awslambdaric==4.*"
cp "$here/app.py" "$root/var/task/"
# Every shared library the interpreter and the extension modules load, at the same paths.
find "$root" -name '*.so*' -type f -print0 | xargs -0 -r ldd 2>/dev/null | cat - <(ldd "$py") \
  | awk '/=> \// { print $3 } /^\s*\/lib/ { print $1 }' | sort -u | while read -r lib; do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
mkdir -p "$root/lib64"
cp -L /lib64/ld-linux-x86-64.so.2 "$root/lib64/"
