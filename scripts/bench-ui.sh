#!/usr/bin/env bash
# `pyk ui`'s figures for the README: the page's weight in bytes, the package list's JSON
# for N packages, and the time to first render of that list in Debian's chromium
# (tests/web/bench.mjs: navigation start to the page's `pyk-list-rendered` mark, RUNS
# fresh browser contexts, median). The repository is a real `pyk serve` on 127.0.0.1
# holding N small packages, each a 1 KiB file stored with `pyk push` (a build per package
# would take hours; the list reads the same either way).
# Usage: scripts/bench-ui.sh [N=1000] [RUNS=7]   PYK=path/to/pyk (default: a release build)
# Needs chromium and `npm ci` in tests/web (scripts/setup.sh does both).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000}
runs=${2:-7}
[ -x /usr/bin/chromium ] || { echo "bench-ui: needs /usr/bin/chromium (apt-get install chromium)" >&2; exit 1; }
[ -d tests/web/node_modules/playwright-core ] || { echo "bench-ui: run npm ci in tests/web" >&2; exit 1; }
if [ -z "${PYK:-}" ]; then
  cargo build --release --quiet
  PYK=${CARGO_TARGET_DIR:-$PWD/target}/release/pyk
fi
work=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
export PYK_CACHE_DIR=$work/cache PYK_KEY=bench-secret PYK_SERVER=http://127.0.0.1:$port
export HOME=$work PYK_CONFIG=$work/config.toml
: >"$PYK_CONFIG"
"$PYK" keygen --signing -o "$work/signing.key" >/dev/null 2>&1
export PYK_SIGNING_KEY=$work/signing.key
"$PYK" serve --host 127.0.0.1 --port "$port" "$work/store" 2>"$work/serve.log" &
server=$!
ui=
trap 'kill $server $ui 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do curl -s "http://127.0.0.1:$port/" >/dev/null && break; sleep 0.1; done
head -c 1024 /dev/urandom >"$work/file"
start=$(date +%s)
seq -w 1 "$n" | xargs -P 4 -I{} "$PYK" -q push "pkg{}" 1 "$work/file" --promote
echo "pushed $n packages in $(( $(date +%s) - start )) s"
"$PYK" ui --port 0 --no-browser >"$work/ui.out" &
ui=$!
for _ in $(seq 50); do grep -q http "$work/ui.out" 2>/dev/null && break; sleep 0.1; done
url=$(grep -o 'http://127.0.0.1:[0-9]*/' "$work/ui.out")
page=$(curl -s "$url" | wc -c)
list=$(curl -s "${url}api/packages" | wc -c)
# The list's request alone (pyk ui asking the repository), as the page makes it.
request=$(for _ in $(seq "$runs"); do curl -s -o /dev/null -w '%{time_total}\n' "${url}api/packages"; done |
  sort -n | awk '{a[NR]=$1} END {printf "%.0f", a[int((NR+1)/2)] * 1000}')
{ read -r -a out; read -r -a got; } < <(cd tests/web && node bench.mjs "$url" "$runs")
rows=${got[-1]}
unset 'got[-1]'
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "page: $page bytes (HTML, CSS and script, uncompressed); list JSON for $n packages: $list bytes"
echo "first render of $rows rows: median $(median "${out[@]}") ms of $runs runs (${out[*]} ms), of which" \
  "the list's response had ended at a median $(median "${got[@]}") ms (${got[*]}); the list's request alone" \
  "(curl): median ${request} ms"
