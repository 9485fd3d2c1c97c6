#!/usr/bin/env bash
# Benchmarks for `pyk build` artifacts, printed as a table for the README.
# Usage: scripts/bench.sh [PYTHON]   (default /usr/bin/python3.11, imported as the runtime)
# Needs hyperfine (apt-get install hyperfine). Figures are medians; ratios matter more
# than absolute times on a shared machine.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${1:-/usr/bin/python3.11}
command -v hyperfine >/dev/null || { echo "bench: needs hyperfine (apt-get install hyperfine)" >&2; exit 1; }

cargo build --release --quiet
pyk=$PWD/target/release/pyk
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export PYK_CACHE_DIR=$work/cache
"$pyk" -q runtime import "$python" >/dev/null
ver=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')

mkdir -p "$work/hello"
printf 'name = "hello"\nrun = "hello.py"\n' >"$work/hello/pyk.toml"
printf 'print("hello")\n' >"$work/hello/hello.py"
cd "$work/hello"
"$pyk" -q build --python "$ver" >/dev/null
art=$work/hello/dist/hello
"$art" >/dev/null # warm the runtime cache
runtime=$(find "$PYK_CACHE_DIR/runtimes" -mindepth 1 -maxdepth 1 -type d ! -name '.*' | head -1)

median() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"]; print(" ".join("%.4f" % x["median"] for x in r))' "$1"; }

# Three rounds of 200 runs each; the machine's noise (±1 ms at 15 ms) shows in the spread.
ratios=()
for round in 1 2 3; do
  hyperfine -N --warmup 10 --runs 200 --export-json "$work/warm.json" \
    "$runtime/bin/python3 -I $art" "$art" >/dev/null
  read -r direct warm < <(median "$work/warm.json")
  ratios+=("$(python3 -c "print('%.3f' % ($warm / $direct))")")
done
hyperfine -N --runs 10 --prepare "rm -rf $work/cold" --export-json "$work/cold.json" \
  "env PYK_CACHE_DIR=$work/cold $art" >/dev/null
read -r cold < <(median "$work/cold.json")
hyperfine -N --warmup 1 --runs 10 --export-json "$work/build.json" \
  "$pyk -q build --python $ver" >/dev/null
read -r build < <(median "$work/build.json")

stub=$(stat -c %s "$(dirname "$(dirname "$pyk")")"/release/build/pyk-*/out/pyk-stub 2>/dev/null | head -1)
size=$(stat -c %s "$art")
ms() { python3 -c "print('%.1f ms' % ($1 * 1000))"; }
cat <<TABLE
| measure (hello, Python $ver, $(nproc) cores) | figure |
| --- | --- |
| stub size | $((stub / 1024)) KiB |
| python3 -I artifact (no stub), last round | $(ms "$direct") |
| ./hello warm, last round | $(ms "$warm") |
| warm ratio ./hello : python3 -I (3 rounds of 200 medians) | ${ratios[*]} |
| ./hello cold (first run, empty cache) | $(ms "$cold") |
| pyk build, runtime cached | $(ms "$build") |
| artifact size | $(python3 -c "print('%.1f MiB' % ($size / 1048576))") |
TABLE
