#!/usr/bin/env bash
# The cost of /metrics on update-check throughput: one server, the same wrk load (update
# checks answered 304, 2 threads x 64 connections, 5 s), with and without a scraper
# reading /metrics on --metrics-addr 10 times a second (150 times Prometheus's default
# pace), in interleaved pairs. Prints a table row for the README.
# Usage: scripts/bench-metrics.sh [PAIRS]   (needs wrk; builds pyk-server in release)
# BENCH_PYK names the pyk that pushes and signs (default: the release pyk built here).
set -euo pipefail
cd "$(dirname "$0")/.."
pairs=${1:-3}
command -v wrk >/dev/null || { echo "bench-metrics: needs wrk (apt-get install wrk)" >&2; exit 1; }
target=${CARGO_TARGET_DIR:-$PWD/target}
if [ -z "${BENCH_PYK:-}" ]; then
  cargo build --release --quiet -p pyk -p pyk-server
  BENCH_PYK=$target/release/pyk
else
  cargo build --release --quiet -p pyk-server
fi
pyk=$BENCH_PYK
work=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
mport=$((port + 1))
export PYK_CACHE_DIR=$work/cache PYK_KEY=bench-secret PYK_SERVER=http://127.0.0.1:$port
PYK_KEY=bench-secret "$target/release/pyk-server" --metrics-addr=127.0.0.1:$mport "$work/store" \
  127.0.0.1:$port 2>"$work/serve.log" &
server=$!
scraper=
trap 'kill $server $scraper 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$mport/healthz" >/dev/null && break; sleep 0.1; done
"$pyk" keygen --signing -o "$work/signing.key" >/dev/null 2>&1
export PYK_SIGNING_KEY=$work/signing.key
head -c 100000 /dev/urandom >"$work/file"
"$pyk" -q push hello 1 "$work/file" --promote >/dev/null
path=/v1/packages/run/hello
etag=$(curl -sf -H "Authorization: $("$pyk" sign GET "$path")" "http://127.0.0.1:$port$path" |
  python3 -c 'import json,sys; m=json.load(sys.stdin); print("\"%s.%s\"" % (m["artifact_sha256"], m["version"]))')

load() { # prints req/s and p99
  "$pyk" sign GET "$path" --count 800000 >"$work/tokens"
  wrk -t2 -c64 -d5s --latency -s scripts/tokens.lua -H "If-None-Match: $etag" \
    "http://127.0.0.1:$port$path" -- "$work/tokens" 2 >"$work/wrk.txt"
  if grep -q Non-2xx "$work/wrk.txt"; then echo "bench-metrics: non-2xx/3xx answers" >&2; cat "$work/wrk.txt" >&2; exit 1; fi
  echo "$(awk '/Requests\/sec/ {print $2}' "$work/wrk.txt") $(awk '$1 == "99%" {print $2}' "$work/wrk.txt")"
}
plain=() scraped=()
for i in $(seq "$pairs"); do
  plain+=("$(load)")
  (while :; do curl -s -o /dev/null "http://127.0.0.1:$mport/metrics" && echo >>"$work/scrapes"; sleep 0.1; done) &
  scraper=$!
  scraped+=("$(load)")
  kill $scraper; wait $scraper 2>/dev/null || true; scraper=
  echo "pair $i: without ${plain[-1]} | with ${scraped[-1]}" >&2
done
scrapes=$(wc -l <"$work/scrapes")
python3 - "$(nproc)" "$(cut -d' ' -f1 /proc/loadavg)" "$scrapes" "${plain[@]}" -- "${scraped[@]}" <<'PY'
import statistics, sys
cores, load, scrapes = sys.argv[1], sys.argv[2], sys.argv[3]
rest = sys.argv[4:]
cut = rest.index("--")
def ms(t): return float(t[:-2]) if t.endswith("ms") else float(t[:-2]) / 1000 if t.endswith("us") else float(t[:-1]) * 1000
def parse(xs): return [float(x.split()[0]) for x in xs], sorted((x.split()[1] for x in xs), key=ms)
(a, ap), (b, bp) = parse(rest[:cut]), parse(rest[cut + 1:])
ma, mb = statistics.median(a), statistics.median(b)
print(f"| update checks (304s), {len(a)} interleaved pairs of 5 s, {cores} cores, load {load}: "
      f"without scraping : scraping /metrics 10/s ({scrapes} scrapes) | "
      f"{ma:,.0f} : {mb:,.0f} req/s ({(mb - ma) / ma * 100:+.1f}%), p99 {ap[len(ap)//2]} : {bp[len(bp)//2]} |")
PY
