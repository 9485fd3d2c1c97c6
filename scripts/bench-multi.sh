#!/usr/bin/env bash
# One version for two platforms (issue 19), with this tree's release pyk (or BENCH_PYK):
#   - `pyk publish` of an app with PyYAML (its C loader: each platform its own wheel) to a
#     `pyk serve` on 127.0.0.1, for linux-x86_64 alone and for linux-x86_64 + linux-aarch64,
#     BENCH_ROUNDS interleaved rounds (default 3) after one warm-up of each (uv's cache warm,
#     both runtimes cached), each round a new version; wall and CPU (children's rusage);
#   - each platform's artifact size, and what the second platform adds to a publish (the
#     blobs the version stores beyond the x86_64 artifact's, and what the upload said);
#   - the first run of the aarch64 artifact under qemu-user, fresh cache: a correctness
#     check (it must print aarch64), not a speed figure.
# Usage: scripts/bench-multi.sh [ROOT]   (default /opt/pyk-tests/arm64-root, the aarch64
# Debian root setup.sh makes). Needs qemu-user registered with binfmt_misc, uv and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
root=${1:-/opt/pyk-tests/arm64-root}
[ -x "$root/usr/bin/python3.11" ] || { echo "bench-multi: no aarch64 root at $root" >&2; exit 1; }
pyk=${BENCH_PYK:-}
if [ -z "$pyk" ]; then
  nice -n 10 cargo build --release --quiet -p pyk
  pyk=${CARGO_TARGET_DIR:-$PWD/target}/release/pyk
fi
unset PYK_ZSTD_LEVEL PYK_PYTHON
work=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
export HOME=$work PYK_CACHE_DIR=$work/cache PYK_KEY=bench PYK_CONFIG=$work/config.toml
: >"$PYK_CONFIG"
"$pyk" -q runtime import /usr/bin/python3.11
"$pyk" -q runtime import --sysroot "$root" "$root/usr/bin/python3.11"
"$pyk" serve -v --host 127.0.0.1 --port 0 "$work/store" 2>"$work/serve.log" &
server=$!
for _ in $(seq 50); do grep -q 'http://' "$work/serve.log" && break; sleep 0.1; done
export PYK_SERVER=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/serve.log" | head -1)
mkdir -p "$work/yam"
printf 'name = "yam"\nrun = "app.py"\ndependencies = ["PyYAML==6.0.2"]\n' >"$work/yam/pyk.toml"
echo "import platform, yaml; print(platform.machine(), yaml.__with_libyaml__)" >"$work/yam/app.py"
python3 - "$work" "$pyk" "$root" "${BENCH_ROUNDS:-3}" <<'EOF'
import hashlib, os, resource, statistics, subprocess, sys, time
work, pyk, root, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
both = ["--platform", "linux-x86_64", "--platform", "linux-aarch64"]
kinds = {"one": ["--platform", "linux-x86_64"], "two": both}
version = [0]

def publish(args):
    version[0] += 1
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run([pyk, "publish", "--python", "3.11", "--version", str(version[0])] + args,
                         cwd=os.path.join(work, "yam"), check=True, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, out.stderr

for args in kinds.values():  # warm-up: uv's cache, the API tree's first run
    publish(args)
times = {k: [] for k in kinds}
for _ in range(rounds):
    for kind, args in kinds.items():
        wall, cpu, said = publish(args)
        times[kind].append((wall, cpu))
for kind, t in times.items():
    print(f"publish, {kind} platform(s): wall {' / '.join(f'{w:.1f}' for w, _ in t)} s "
          f"(median {statistics.median(w for w, _ in t):.1f}), CPU median "
          f"{statistics.median(c for _, c in t):.1f} s")
print("two : one, median wall %.2fx, CPU %.2fx" % (
    statistics.median(w for w, _ in times["two"]) / statistics.median(w for w, _ in times["one"]),
    statistics.median(c for _, c in times["two"]) / statistics.median(c for _, c in times["one"])))
print("last two-platform publish said:", said.strip().splitlines()[-1])
dist = os.path.join(work, "yam", "dist")
sizes = {p: os.path.getsize(os.path.join(dist, f"yam-{p}")) for p in ("linux-x86_64", "linux-aarch64")}
for p, s in sizes.items():
    print(f"{p} artifact: {s:,} B")

def blobs(path):
    # [stub][each layer][pylock.toml + trailer], as publish splits it (docs/formats.md).
    data = open(path, "rb").read()
    spans = [tuple(map(int, l.split()[2:4])) for l in data[-4096:].decode("ascii", "replace").splitlines()
             if l.startswith("layer ")]
    cuts = [0] + [o for o, _ in spans] + [spans[-1][0] + spans[-1][1], len(data)]
    return {hashlib.sha256(data[a:b]).hexdigest(): b - a for a, b in zip(cuts, cuts[1:])}

x86, arm = (blobs(os.path.join(dist, f"yam-{p}")) for p in sizes)
stored = sum({**x86, **arm}.values())
shared = sum(s for h, s in arm.items() if h in x86)
print(f"the version stores {stored:,} B; aarch64 adds {stored - sizes['linux-x86_64']:,} B "
      f"({shared:,} B of its artifact is shared with x86_64's)")
versions = subprocess.run([pyk, "versions", "yam"], check=True, capture_output=True, text=True).stdout
print(versions.strip().splitlines()[-1])
# First run of the aarch64 artifact under emulation, a fresh cache: a correctness check.
pulled = os.path.join(work, "yam-arm")
subprocess.run([pyk, "-q", "pull", "--platform", "linux-aarch64", "yam", "-o", pulled], check=True)
env = dict(os.environ, PYK_CACHE_DIR=os.path.join(work, "fresh"), QEMU_LD_PREFIX=root)
start = time.perf_counter()
out = subprocess.run([pulled], env=env, check=True, capture_output=True, text=True).stdout
print(f"aarch64 first run under qemu-user: {time.perf_counter() - start:.1f} s, printed {out.strip()!r}")
EOF
