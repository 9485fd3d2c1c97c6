#!/usr/bin/env bash
# Installs what pyk's tests need on a fresh Debian/Ubuntu machine (run as root, or with
# sudo available): Debian's CPython 3.11 (the test runtime, adopted with `pyk runtime
# import`), unzip (a zip reader the tests check artifacts with), util-linux's unshare,
# and uv (installs dependencies at build time; a host pip is the fallback).
set -euo pipefail
sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo
missing=()
[ -x /usr/bin/python3.11 ] && [ -f /usr/lib/python3.11/os.py ] || missing+=(python3.11)
command -v unzip >/dev/null || missing+=(unzip)
command -v unshare >/dev/null || missing+=(util-linux)
if [ ${#missing[@]} -gt 0 ]; then
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if ! command -v uv >/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check uv 2>/dev/null ||
    echo "setup: uv not installed; dependency installs will use a host pip" >&2
fi
