#!/usr/bin/env bash
# End to end on a fresh machine: build pyk, adopt the machine's CPython as the runtime,
# pack two examples (one with a PyPI dependency) and run them with no Python on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --quiet --locked
# Where cargo put it: $CARGO_TARGET_DIR (relative to here, as cargo reads it) when set.
target=${CARGO_TARGET_DIR:-target}
case $target in /*) ;; *) target=$PWD/$target ;; esac
pyk=$target/release/pyk
out=$(mktemp -d)
"$pyk" runtime import /usr/bin/python3.11
"$pyk" build examples/hello -o "$out/hello"
"$pyk" build examples/greet/greet.py -o "$out/greet"
echo "--- running with an empty environment (no PATH, no Python):"
env -i "$out/hello" pyk
env -i "$out/greet" --name pyk --count 2
ls -l "$out"
