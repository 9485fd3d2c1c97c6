#!/usr/bin/env bash
# What the SBOM costs a build: BEFORE (a pyk without SBOMs; default
# /opt/pyk-tests/release/pyk, main's) against AFTER (this tree's release build), building the
# same numpy app (numpy==2.1.3) from one cache, BENCH_BUILDS rounds (default 5) alternating,
# dependency installs from uv's warm cache in both. Prints each build's wall time, the SBOM
# step's own time (AFTER's progress line), and the SBOM's size raw and as zstd -12 would
# store it in the app layer. BENCH_AFTER=PYK uses that pyk as AFTER instead of building.
# Usage: scripts/bench-sbom.sh [PYTHON]   (default /usr/bin/python3.11, the runtime).
set -euo pipefail
cd "$(dirname "$0")/.."
python=${1:-/usr/bin/python3.11}
before=${BENCH_BEFORE:-/opt/pyk-tests/release/pyk}
[ -x "$before" ] || { echo "bench-sbom: no BEFORE pyk at $before (set BENCH_BEFORE)" >&2; exit 1; }
command -v uv >/dev/null || { echo "bench-sbom: needs uv" >&2; exit 1; }
unset PYK_ZSTD_LEVEL
after=${BENCH_AFTER:-}
if [ -z "$after" ]; then
  nice -n 10 cargo build --release --quiet -p pyk
  after=${CARGO_TARGET_DIR:-$PWD/target}/release/pyk
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export PYK_CACHE_DIR=$work/cache SOURCE_DATE_EPOCH=1700000000
"$after" -q runtime import "$python"
mkdir -p "$work/app"
printf 'name = "np"\nrun = "main.py"\ndependencies = ["numpy==2.1.3"]\n' >"$work/app/pyk.toml"
echo 'import numpy; print(numpy.__version__)' >"$work/app/main.py"
"$after" -q build "$work/app" -o "$work/warm" # fills uv's cache
now() { date +%s%N; }
for i in $(seq "${BENCH_BUILDS:-5}"); do
  for who in before after; do
    pyk=$before; [ "$who" = after ] && pyk=$after
    t0=$(now)
    "$pyk" build "$work/app" -o "$work/$who" 2>"$work/$who.log"
    t1=$(now)
    sbom=$(grep -o 'SBOM: .* in [0-9]* ms' "$work/$who.log" || true)
    echo "round $i $who: $(( (t1 - t0) / 1000000 )) ms ${sbom:+($sbom)}"
  done
done
"$after" inspect --sbom "$work/after" >"$work/sbom.json"
echo "SBOM: $(wc -c <"$work/sbom.json") bytes, $(zstd -q -12 -c "$work/sbom.json" | wc -c) at zstd -12"
