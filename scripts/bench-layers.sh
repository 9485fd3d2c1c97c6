#!/usr/bin/env bash
# Figures for layered artifacts, all measured in one run (README "Measured"):
#   - hello: first run (empty cache) and warm start, against `python3.X -I hello.py` with
#     the same CPython in place;
#   - a numpy app: first run, and warm start against the same app installed in a venv of
#     the same interpreter (the unpacked runtime's own python) with compiled .pyc;
#   - a large app (httpie, `--help`): warm start against such a venv too;
#   - artifact and layer sizes, and the launcher's size.
# Usage: scripts/bench-layers.sh [PYTHON]   (default /usr/bin/python3.11, imported as the
# runtime; set BENCH_CACHE to a cache that already holds a runtime layer to use that one,
# and BENCH_DIR to the filesystem the caches should live on, default /tmp).
# First runs are measured each into a new directory, the previous one renamed aside, never
# deleted between runs: on ext4 without a journal, inodes freed moments before make the
# inode allocator scan (recently_deleted), which is the filesystem's cost, not pyk's.
# Needs hyperfine and uv. Medians; every ratio is from pairs measured back to back, three
# rounds, so the noise of a shared machine shows in the spread.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${1:-/usr/bin/python3.11}
for tool in hyperfine uv; do
  command -v $tool >/dev/null || { echo "bench: needs $tool" >&2; exit 1; }
done
cargo build --release --quiet
pyk=$PWD/target/release/pyk
work=$(mktemp -d -p "${BENCH_DIR:-/tmp}")
mkdir -p "$work/old"
trap 'rm -rf "$work"' EXIT
export PYK_CACHE_DIR=${BENCH_CACHE:-$work/build-cache}
ls "$PYK_CACHE_DIR"/layers*/*.tar.zst >/dev/null 2>&1 || "$pyk" -q runtime import "$python" >/dev/null
ver=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')

app() { # name, dependencies (TOML array), script, pyk build options…
  mkdir -p "$work/$1"
  printf 'name = "%s"\nrun = "%s_app.py"\ndependencies = %s\n' "$1" "$1" "$2" >"$work/$1/pyk.toml"
  printf '%s\n' "$3" >"$work/$1/$1_app.py"
  (cd "$work/$1" && "$pyk" -q build --python "$ver" "${@:4}" >/dev/null)
}
app hello '[]' 'print("hello")'
# The same hello on a runtime shaken down to what it imports (issue 8).
app shaken '[]' 'print("hello")' --strip-stdlib
app np '["numpy"]' 'import numpy as np
a = np.arange(6).reshape(2, 3)
print((a @ a.T).tolist())'
app http '["httpie"]' 'import sys
from httpie.__main__ import main
sys.exit(main())'

# From here on the artifacts run from this cache, without an `env` in front of them.
PYK_BUILD_CACHE=$PYK_CACHE_DIR
run=$work/run-cache
export PYK_CACHE_DIR=$run
for a in hello np http; do "$work/$a/dist/$a" --help >/dev/null; done
runtime=$(find "$run"/runtimes-v2 -mindepth 1 -maxdepth 1 -type d ! -name '.*' | head -1)
"$work/shaken/dist/shaken" >/dev/null

# The same apps in venvs of the unpacked runtime's interpreter, bytecode compiled.
venv() { # name, requirement
  "$runtime/bin/python3" -m venv --without-pip "$work/venv-$1"
  uv pip install --quiet --python "$work/venv-$1/bin/python" "$2"
  "$work/venv-$1/bin/python" -m compileall -q -j0 "$work/venv-$1/lib" >/dev/null || true
}
venv np numpy
venv http httpie

median() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"]; print(" ".join("%.4f" % x["median"] for x in r))' "$1"; }
# CPU time (user + system, means): what other jobs on a shared machine inflate least.
cpu() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"]; print(" ".join("%.4f" % (x["user"] + x["system"]) for x in r))' "$1"; }
ms() { python3 -c "print('%.1f ms' % ($1 * 1000))"; }
ratio() { python3 -c "print('%.2f' % ($1 / $2))"; }

pair() { # label, runs, reference command, artifact command → wall and CPU ratios per round
  local out=() cpus=()
  for round in 1 2 3; do
    hyperfine -N --warmup 5 --runs "$2" --export-json "$work/p.json" "$3" "$4" >/dev/null
    read -r ref art < <(median "$work/p.json")
    read -r cref cart < <(cpu "$work/p.json")
    out+=("$(ratio "$art" "$ref")")
    cpus+=("$(ratio "$cart" "$cref")")
  done
  echo "| $1 | $(ms "$ref") | $(ms "$art") | ${out[*]} | ${cpus[*]} |"
}
cold() { # artifact → median first run with an empty cache, and its CPU time
  hyperfine -N --runs 10 --prepare "sh -c 'mv $work/cold $work/old/\$\$ 2>/dev/null; true'" \
    --export-json "$work/c.json" \
    "env -i PYK_CACHE_DIR=$work/cold $1" >/dev/null
  echo "$(ms "$(median "$work/c.json")") | $(ms "$(cpu "$work/c.json")")"
}

printf 'print("hello")\n' >"$work/hello.py"
echo "load: $(uptime | sed 's/.*load average: //')"
echo "| warm start (Python $ver, $(nproc) cores) | reference | artifact | wall ratio, 3 rounds | CPU ratio, 3 rounds |"
echo "| --- | --- | --- | --- | --- |"
pair "hello: \`$python -I hello.py\` : \`./hello\`" 200 "$python -I $work/hello.py" "$work/hello/dist/hello"
pair "hello, \`--strip-stdlib\`: likewise" 200 "$python -I $work/hello.py" "$work/shaken/dist/shaken"
pair "numpy app: venv : artifact" 50 "$work/venv-np/bin/python -I $work/np/np_app.py" "$work/np/dist/np"
pair "httpie --help: venv : artifact" 30 "$work/venv-http/bin/python -I $work/http/http_app.py --help" "$work/http/dist/http --help"
echo
echo "| first run (empty cache) | wall | CPU |"
echo "| --- | --- | --- |"
echo "| hello | $(cold "$work/hello/dist/hello") |"
echo "| hello, \`--strip-stdlib\` | $(cold "$work/shaken/dist/shaken") |"
echo "| numpy app | $(cold "$work/np/dist/np") |"
echo "| httpie | $(cold "$work/http/dist/http --version") |"
(cd "$work/hello" && hyperfine -N --warmup 1 --runs 10 --export-json "$work/b.json" \
  "env PYK_CACHE_DIR=$PYK_BUILD_CACHE $pyk -q build --python $ver" >/dev/null)
echo "| \`pyk build\` of hello, runtime cached | $(ms "$(median "$work/b.json")") | |"
echo
echo "| size | |"
echo "| --- | --- |"
stub=$(stat -c %s "$(ls -t target/release/build/pyk-*/out/pyk-stub | head -1)")
echo "| launcher | $((stub / 1024)) KiB |"
for a in hello shaken np http; do
  layers=$("$pyk" inspect "$work/$a/dist/$a" | awk '/sha256/ && $1 ~ /^(runtime|deps|app)$/ {printf "%s %s %s, ", $1, $2, $3}')
  echo "| $a | $(python3 -c "print('%.1f MiB' % ($(stat -c %s "$work/$a/dist/$a") / 1048576))") (${layers%, }) |"
done
