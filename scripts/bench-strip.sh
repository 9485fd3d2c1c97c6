#!/usr/bin/env bash
# Stripped builds and the program's own name, BEFORE (a pyk of an earlier commit; default
# /opt/pyk-tests/release/pyk, main's) against AFTER (this tree's release build), in one run:
#   - `pyk build --strip-stdlib` wall time for hello and a numpy app: a first build (no
#     shaken runtime layer cached: every shaken layer is removed from the cache before it)
#     and a rebuild (the shaken layer cached), BENCH_BUILDS rounds (default 3), BEFORE and
#     AFTER alternating; dependency installs hit uv's warm cache in both;
#   - warm start of hello built by each (AFTER's boot names the process: it writes
#     /proc/self/comm), BENCH_PAIRS interleaved pairs (default 300), medians and their ratio.
# BENCH_BUILDS=0 times only the warm start; BENCH_AFTER=PYK uses that pyk as AFTER instead of
# building this tree's release pyk (the launcher and boot module are the same in any profile).
# Usage: scripts/bench-strip.sh [PYTHON]   (default /usr/bin/python3.11, imported as the
# runtime into one cache both pyks build from). Needs uv and python3; no PYK_ZSTD_LEVEL set.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${1:-/usr/bin/python3.11}
before=${BENCH_BEFORE:-/opt/pyk-tests/release/pyk}
[ -x "$before" ] || { echo "bench-strip: no BEFORE pyk at $before (set BENCH_BEFORE)" >&2; exit 1; }
command -v uv >/dev/null || { echo "bench-strip: needs uv" >&2; exit 1; }
unset PYK_ZSTD_LEVEL
after=${BENCH_AFTER:-}
if [ -z "$after" ]; then
  nice -n 10 cargo build --release --quiet -p pyk
  after=${CARGO_TARGET_DIR:-$PWD/target}/release/pyk
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export PYK_CACHE_DIR=$work/cache
"$after" -q runtime import "$python"
ver=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
for app in hello numpy; do
  mkdir -p "$work/$app"
  printf 'name = "%s"\nrun = "main.py"\n' "$app" "$app" >"$work/$app/pyk.toml"
done
echo 'print("hello")' >"$work/hello/main.py"
echo 'dependencies = ["numpy>=2"]' >>"$work/numpy/pyk.toml"
echo 'import numpy; print(numpy.arange(6).sum())' >"$work/numpy/main.py"
exec python3 - "$work" "$before" "$after" "$ver" "${BENCH_BUILDS:-3}" "${BENCH_PAIRS:-300}" <<'EOF'
import glob, os, statistics, subprocess, sys, time
work, before, after, ver, builds, pairs = sys.argv[1:4] + [sys.argv[4], int(sys.argv[5]), int(sys.argv[6])]
pyks = {"before": before, "after": after}
cache = os.environ["PYK_CACHE_DIR"]

def drop_shaken():
    for meta in glob.glob(os.path.join(cache, "layers-v2", "*.toml")):
        if "[shaken]" in open(meta).read():
            for path in (meta, meta[:-5] + ".tar.zst"):
                os.remove(path)

def build(pyk, app, strip, out):
    args = [pyk, "-q", "build", "--python", ver, "-o", out] + (["--strip-stdlib"] if strip else [])
    start = time.perf_counter()
    subprocess.run(args, cwd=os.path.join(work, app), check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start

times = {}
for app in ("hello", "numpy") if builds else ():
    for r in range(builds):
        for who, pyk in pyks.items():
            drop_shaken()
            out = os.path.join(work, f"{app}-{who}-stripped")
            times.setdefault((app, who, "first"), []).append(build(pyk, app, True, out))
            times.setdefault((app, who, "rebuild"), []).append(build(pyk, app, True, out))
        sizes = {who: os.path.getsize(os.path.join(work, f"{app}-{who}-stripped")) for who in pyks}
    print(f"{app} --strip-stdlib: artifact {sizes['before'] / 2**20:.2f} MiB before, {sizes['after'] / 2**20:.2f} MiB after")
    for kind in ("first", "rebuild"):
        b, a = (statistics.median(times[(app, who, kind)]) for who in pyks)
        print(f"  {kind:7} build, median of {builds}: before {b:.1f} s, after {a:.1f} s ({a / b:.2f}x)")

exe = {who: os.path.join(work, f"hello-{who}") for who in pyks}
for who, pyk in pyks.items():
    build(pyk, "hello", False, exe[who])
    subprocess.run([exe[who]], check=True, stdout=subprocess.DEVNULL)
walls = {who: [] for who in pyks}
for i in range(pairs):
    order = list(pyks) if i % 2 == 0 else list(pyks)[::-1]
    for who in order:
        start = time.perf_counter()
        subprocess.run([exe[who]], check=True, stdout=subprocess.DEVNULL)
        walls[who].append(time.perf_counter() - start)
b, a = (statistics.median(walls[who]) for who in pyks)
print(f"hello warm start, {pairs} interleaved pairs: before {b * 1e3:.2f} ms, after (named) {a * 1e3:.2f} ms, ratio {a / b:.3f}")
print(f"load average {os.getloadavg()[0]:.1f}")
EOF
