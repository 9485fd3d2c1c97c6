#!/usr/bin/env bash
# Benchmarks for the repository and the runner, printed as a table for the README.
# Usage: scripts/bench-repo.sh   (needs hyperfine and wrk: apt-get install hyperfine wrk)
# Everything talks to 127.0.0.1 only; the load run is bounded (10 s).
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in hyperfine wrk; do
  command -v $tool >/dev/null || { echo "bench-repo: needs $tool (apt-get install $tool)" >&2; exit 1; }
done
cargo build --release --quiet
pyk=$PWD/target/release/pyk
work=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
export PYK_CACHE_DIR=$work/cache PYK_KEY=bench-secret PYK_SERVER=http://127.0.0.1:$port
# A signing publisher, and two runners: one trusting its key (every run checks the
# signature), one trusting none (no check, a warning): the difference is the check.
"$pyk" keygen --signing -o "$work/signing.key" >"$work/public" 2>/dev/null
export PYK_SIGNING_KEY=$work/signing.key
echo "trusted = [\"$(cat "$work/public")\"]" >"$work/trusted.toml"
: >"$work/untrusted.toml"
export PYK_CONFIG=$work/trusted.toml
"$pyk" serve --host 127.0.0.1 --port "$port" "$work/store" 2>"$work/serve.log" &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
"$pyk" -q runtime import /usr/bin/python3.11 >/dev/null
"$pyk" -q publish examples/hello -o "$work/hello" >/dev/null
"$pyk" hello >/dev/null # fetch and warm up
art=$("$pyk" resolve run hello)

hyperfine -N --warmup 5 --runs 50 --export-json "$work/run.json" "$art" "$pyk hello" >/dev/null
read -r direct viapyk < <(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"]; print(*["%.5f" % x["median"] for x in r])' "$work/run.json")
hyperfine -N --warmup 5 --runs 100 --export-json "$work/trust.json" \
  "env PYK_CONFIG=$work/trusted.toml $pyk hello" "env PYK_CONFIG=$work/untrusted.toml $pyk hello" >/dev/null 2>&1
read -r checked unchecked < <(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"]; print(*["%.5f" % x["median"] for x in r])' "$work/trust.json")

path=/v1/packages/run/hello
etag=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print("\"%s.%s\"" % (m["artifact_sha256"], m["version"]))' "$PYK_CACHE_DIR/packages/run/hello.json")
# A token opens one request: make more than 10 s can use, before the clock starts.
"$pyk" sign GET "$path" --count 1500000 >"$work/tokens"
wrk -t2 -c64 -d10s --latency -s scripts/tokens.lua -H "If-None-Match: $etag" \
  "http://127.0.0.1:$port$path" -- "$work/tokens" 2 >"$work/wrk.txt"
rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.txt")
p99=$(awk '$1 == "99%" {print $2}' "$work/wrk.txt")
non2xx=$(awk '/Non-2xx/ {print $NF}' "$work/wrk.txt")
cat <<TABLE
| measure ($(nproc) cores, loopback) | figure |
| --- | --- |
| cached artifact run directly | $(python3 -c "print('%.1f ms' % ($direct * 1000))") |
| \`pyk hello\` (update check + exec) | $(python3 -c "print('%.1f ms' % ($viapyk * 1000))") |
| runner overhead | $(python3 -c "print('%.1f ms' % (($viapyk - $direct) * 1000))") |
| \`pyk hello\`, signature checked : no trusted keys | $(python3 -c "print('%.2f ms : %.2f ms, %+.2f ms' % ($checked * 1000, $unchecked * 1000, ($checked - $unchecked) * 1000))") |
| update checks (304), wrk 2 threads, 64 connections, 10 s | ${rps} req/s |
| update check p99 latency | ${p99} |
TABLE
[ -z "$non2xx" ] || echo "(non-2xx/3xx answers: $non2xx)"
