#!/usr/bin/env bash
# Installs what pyk's tests need on a fresh Debian/Ubuntu machine (run as root, or with
# sudo available): Debian's CPython 3.11 (the test runtime, adopted with `pyk runtime
# import`), unzip (a zip reader the tests check artifacts with), util-linux's unshare,
# tmux (the terminal test drives pyk as a person would), and, from PyPI,
# uv and cryptography.
set -euo pipefail
sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo
missing=()
[ -x /usr/bin/python3.11 ] && [ -f /usr/lib/python3.11/os.py ] || missing+=(python3.11)
command -v unzip >/dev/null || missing+=(unzip)
command -v unshare >/dev/null || missing+=(util-linux)
command -v tmux >/dev/null || missing+=(tmux)
if [ ${#missing[@]} -gt 0 ]; then
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# uv installs dependencies at build time (a host pip is the fallback); cryptography lets
# the interoperability tests check pyk's tokens against Python's Fernet.
want=()
command -v uv >/dev/null || want+=(uv)
python3 -c 'import cryptography.fernet' 2>/dev/null || want+=(cryptography)
if [ ${#want[@]} -gt 0 ]; then
  python3 -m pip install --quiet --disable-pip-version-check "${want[@]}" ||
    echo "setup: could not install ${want[*]} with pip; the tests that need them adapt or skip" >&2
  # pyenv's shims only learn of new console scripts (uv) on a rehash.
  if command -v pyenv >/dev/null; then pyenv rehash || true; fi
fi
