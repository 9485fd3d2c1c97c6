#!/usr/bin/env bash
# End to end on a fresh machine: build pyk, adopt the machine's CPython as the runtime,
# pack two examples (one with a PyPI dependency) and run them with no Python on PATH.
# Needs Rust, a C compiler and python3 (uv, if on PATH, installs the dependency; else
# pip, into the build's own directory). Installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
python=$(command -v python3) || { echo "demo.sh: needs python3 on PATH" >&2; exit 1; }
cargo build --release --quiet --locked
# Where cargo put it: $CARGO_TARGET_DIR (relative to here, as cargo reads it) when set.
target=${CARGO_TARGET_DIR:-target}
case $target in /*) ;; *) target=$PWD/$target ;; esac
pyk=$target/release/pyk
out=$(mktemp -d)
"$pyk" runtime import "$python"
"$pyk" build examples/hello -o "$out/hello"
"$pyk" build examples/greet/greet.py -o "$out/greet"
echo "--- running with an empty environment (no PATH, no Python):"
env -i "$out/hello" pyk
env -i "$out/greet" --name pyk --count 2
ls -l "$out"
