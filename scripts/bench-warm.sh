#!/usr/bin/env bash
# `pyk hello` warm (an update check answered 304 by `pyk serve` on 127.0.0.1, then exec)
# against the same cached artifact run directly (`./hello`: what a user who copied the
# file would run), in ONE run of interleaved rounds (each round runs every command once,
# the order rotated; scripts/bench/measure.py). Reports medians, and the pair-median
# ratios and differences: the median over rounds of pyk's run : the direct run of the same
# round, wall and CPU (user + system, from wait4). Goal: ≤ 1.10 and ≤ 2 ms over direct.
#
# Usage: scripts/bench-warm.sh [PYK]   default: this tree's release build (cargo build
#        --release into CARGO_TARGET_DIR); e.g. /opt/pyk-tests/release/pyk
# Environment:
#   BENCH_ROUNDS  interleaved rounds (default 300)
#   BENCH_BEFORE  another pyk (an earlier commit's) whose `pyk hello` joins the same rounds,
#                 to compare two builds' warm paths (its ratios are against direct too)
#   BENCH_PY      the Python imported as the runtime (default /usr/bin/python3.11)
# Needs python3 (the harness) and the runtime's Python; talks to 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
pyk=${1:-}
if [ -z "$pyk" ]; then
  nice -n 10 cargo build --release --locked --quiet -p pyk
  pyk=${CARGO_TARGET_DIR:-$PWD/target}/release/pyk
fi
before=${BENCH_BEFORE:-}
work=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
export PYK_CACHE_DIR=$work/cache PYK_KEY=bench-secret PYK_SERVER=http://127.0.0.1:$port
export HOME=$work/home XDG_CONFIG_HOME=$work/home/.config
mkdir -p "$HOME"
unset PYK_SIGNING_KEY PYK_CONFIG PYK_LOG
# A signing publisher, and a runner that trusts its key: every run checks the signature.
"$pyk" keygen --signing -o "$work/signing.key" >"$work/public" 2>/dev/null
export PYK_SIGNING_KEY=$work/signing.key
echo "trusted = [\"$(cat "$work/public")\"]" >"$work/trusted.toml"
export PYK_CONFIG=$work/trusted.toml
"$pyk" serve --host 127.0.0.1 --port "$port" "$work/store" >/dev/null 2>"$work/serve.log" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
"$pyk" -q runtime import "${BENCH_PY:-/usr/bin/python3.11}" >/dev/null
"$pyk" -q publish examples/hello -o "$work/hello" >/dev/null
"$pyk" hello >/dev/null # fetched (adopted by publish) and checked once
python3 - "$work/hello" "$pyk" "$before" "${BENCH_ROUNDS:-300}" <<'EOF'
import os, statistics, sys
sys.path.insert(0, "scripts/bench")
import measure

direct, pyk, before, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
cmds = [measure.Cmd("./hello", [direct]), measure.Cmd("pyk hello", [pyk, "hello"])]
if before:
    cmds.append(measure.Cmd("before: pyk hello", [before, "hello"]))
for c in cmds:
    ok, why = measure.check(c)
    if not ok:
        sys.exit(f"bench-warm: {c.label} failed: {why}")
load = os.getloadavg()[0]
measure.interleaved(cmds, rounds, warmup=10)
base = cmds[0]
med = statistics.median
print(f"{rounds} interleaved rounds, {os.cpu_count()} cores, load average {load:.1f} before, "
      f"{os.getloadavg()[0]:.1f} after")
print("| command | wall, median | CPU, median | wall : direct, pair-median | CPU : direct, pair-median | wall added, pair-median |")
print("| --- | --- | --- | --- | --- | --- |")
for c in cmds:
    ratio = med(w / b for w, b in zip(c.wall, base.wall))
    cpu = med(u / b for u, b in zip(c.cpu, base.cpu))
    added = med(w - b for w, b in zip(c.wall, base.wall))
    print(f"| `{c.label}` | {med(c.wall) * 1e3:.2f} ms | {med(c.cpu) * 1e3:.2f} ms | "
          f"{ratio:.3f} | {cpu:.3f} | {added * 1e3:+.2f} ms |")
EOF
