#!/usr/bin/env bash
# pyk against what a user would pick instead, measured in ONE run, as ratios:
#   - warm start of each app in scripts/bench/apps/ (hello, a click CLI, a rich table, numpy,
#     yt-dlp --version, httpie --offline): `./app` built by pyk against the same app in a
#     plain venv (compiled .pyc, `venv/bin/python -I app.py`), PyApp and PyInstaller
#     --onefile; hello also against `PY -I hello.py` in place. Interleaved rounds (every
#     command once per round, the order rotated each round), median wall time and median CPU
#     time (user + system, from wait4);
#   - first run, empty cache each time (fresh PYK_CACHE_DIR; fresh XDG dirs for PyApp), for
#     hello and numpy;
#   - artifact sizes.
# Every tool runs the same CPython, PY: pyk bundles it (`pyk runtime import PY`), the venv and
# PyInstaller are made from PY, and PyApp embeds pyk's unpacked runtime of PY (a PBS-like
# `python/` tree) with the app's site-packages inside, with full isolation and no install at
# run time. Each output is checked against the venv's before it is timed; a tool that fails
# or prints something else is left out and named.
#
# Usage: scripts/bench-apps.sh [PY]        default /usr/bin/python3.11 (Debian's);
#                                          e.g. ~/.pyenv/versions/3.12.1/bin/python3.12
# Environment:
#   BENCH_ROOT   build outputs and caches (default /work/benchroot; never the repo)
#   BENCH_APPS   comma-separated subset (default: hello,click,rich,numpy,yt-dlp,httpie)
#   BENCH_ROUNDS scale every app's number of rounds (default 1: 60 for hello … 20 for httpie)
#   BENCH_WAIT_LOAD  wait (at most 10 min) for the 1-minute load average to drop below this
#   BENCH_NO_PYAPP=1 skip PyApp (its builds are the slow part)
#
# Needs: cargo, a Python >= 3.11 as `python3` (runs the harness), uv (installs from PyPI),
# zstd, tar, and network access to PyPI and crates.io for the first run. PY needs `venv`
# (Debian: python3.11-venv) and a shared libpython for PyInstaller (Debian: libpython3.11).
#
# Time on this machine (2 cores shared with other builds, load 5-11): the first run builds the
# baselines and caches them under BENCH_ROOT/<python>/base/<app>-<hash>/: PyInstaller 15-60 s
# per app; PyApp 9.5 min for the first app (its crates.io dependencies, LTO) and 3-4 min for
# each other (the crate and its LTO link again: the embedded distribution is a build input);
# `pyk runtime import` ~1 min once per pyk cache; ~40 min in all. Later runs rebuild pyk and
# its artifacts (~1 min with a warm target dir) and time for ~4 min (plus BENCH_WAIT_LOAD's
# wait). Figures are medians; on a shared machine read the ratios (interleaved rounds move
# least), the CPU-time ratios beside them, and the load the report prints.
set -euo pipefail
cd "$(dirname "$0")/.."
py=${1:-/usr/bin/python3.11}
for tool in cargo uv zstd tar python3; do
  command -v $tool >/dev/null || { echo "bench-apps: needs $tool" >&2; exit 1; }
done
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
  { echo "bench-apps: python3 must be >= 3.11 (tomllib)" >&2; exit 1; }

nice -n 19 cargo build --release --quiet
label="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
[ -z "$(git status --porcelain --untracked-files=no 2>/dev/null)" ] || label+="+changes"
args=(--python "$py" --pyk "$PWD/target/release/pyk" --root "${BENCH_ROOT:-/work/benchroot}" --label "$label")
[ -n "${BENCH_APPS:-}" ] && args+=(--apps "$BENCH_APPS")
[ -n "${BENCH_ROUNDS:-}" ] && args+=(--rounds "$BENCH_ROUNDS")
[ -n "${BENCH_WAIT_LOAD:-}" ] && args+=(--wait-load "$BENCH_WAIT_LOAD")
[ -n "${BENCH_NO_PYAPP:-}" ] && args+=(--no-pyapp)
exec python3 scripts/bench/harness.py "${args[@]}"
