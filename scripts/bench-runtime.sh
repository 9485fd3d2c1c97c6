#!/usr/bin/env bash
# Runtime benchmarks, printed as a table for the README: each adopted runtime against the
# same CPython run in place (its own stdlib directory), measured in one run.
#   - warm: `python3 -I -c pass`, `python3 -I hello.py` and `python3 -I -S hello.py`, runtime
#     vs in place, 300 pairs run alternately (one of each, then the next pair), median of each
#     and their ratio. With `-S` neither runs `site`: the stdlib layout alone. Without it the
#     in-place python also runs whatever .pth files its site-packages hold on this machine;
#     the runtime runs its `_pyk.pth`;
#   - hello: `./hello` (whole process, launcher included) against `python3.X -I hello.py` in
#     place, pairs as above, for hello built as it is and with `--strip-stdlib`;
#   - cold: `./hello` built on the runtime with an empty cache (the launcher unpacks the
#     layer through pyk_artifact::install, then runs), hyperfine median and min of 10, each
#     into a new directory (never deleted between runs: on a journal-less ext4, inodes freed
#     moments before make every file creation scan for them), full and shaken;
#   - sizes: files in the layer, the layer (zstd 19) and the same tree with the original,
#     unstripped ELF files put back; the shaken layer and both hello artifacts.
# Usage: scripts/bench-runtime.sh [PYTHON…]
#   default: /usr/bin/python3.11 and ~/.pyenv/versions/3.12.1/bin/python3.12 (when present).
# Needs hyperfine and zstd (apt-get install hyperfine zstd). Numbers on a shared machine
# move from run to run; ratios of interleaved pairs move least.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in hyperfine zstd; do
  command -v $tool >/dev/null || { echo "bench-runtime: needs $tool (apt-get install $tool)" >&2; exit 1; }
done
pythons=("$@")
if [ ${#pythons[@]} -eq 0 ]; then
  pythons=(/usr/bin/python3.11)
  pyenv=$HOME/.pyenv/versions/3.12.1/bin/python3.12
  [ -x "$pyenv" ] && pythons+=("$pyenv")
fi

cargo build --release --quiet
pyk=$PWD/target/release/pyk
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf 'print("hello")\n' >"$work/hello.py"

# Alternating pairs: prints "wall_a wall_b cpu_a cpu_b", medians in seconds. CPU time (user +
# system of the child, from wait4) moves less than wall time when other work shares the cores.
pairs() {
  python3 - "$@" <<'PY'
import os, statistics, sys, time
n, a, b = int(sys.argv[1]), sys.argv[2].split(), sys.argv[3].split()
null = os.open(os.devnull, os.O_WRONLY)
def once(cmd):
    t = time.perf_counter()
    pid = os.posix_spawn(cmd[0], cmd, os.environ, file_actions=[(os.POSIX_SPAWN_DUP2, null, 1)])
    _, _, usage = os.wait4(pid, 0)
    return time.perf_counter() - t, usage.ru_utime + usage.ru_stime
for _ in range(10):
    once(a), once(b)
runs = {"a": [], "b": []}
for _ in range(n):
    runs["a"].append(once(a))
    runs["b"].append(once(b))
med = lambda k, i: statistics.median(r[i] for r in runs[k])
print(med("a", 0), med("b", 0), med("a", 1), med("b", 1))
PY
}
ms() { python3 -c "print('%.1f' % ($1 * 1000))"; }
ratio() { python3 -c "print('%.3f' % ($1 / $2))"; }
mib() { python3 -c "print('%.1f MiB' % ($1 / 1048576))"; }

rows=()
hello_rows=()
for python in "${pythons[@]}"; do
  cache=$work/cache-$(basename "$python")
  ver=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  PYK_CACHE_DIR=$cache "$pyk" -q runtime import "$python" >/dev/null
  layer=$(ls "$cache"/layers-v2/*.tar.zst)
  glibc=$(sed -n 's/^glibc = "\(.*\)"/\1/p' "$cache"/layers-v2/*.toml)

  # The layer's tree, and the same tree with the original (unstripped) ELF files back.
  tree=$work/tree-$ver
  mkdir -p "$tree"
  zstd -q -dc "$layer" | tar x -C "$tree"
  files=$(find "$tree" | wc -l)
  prefix=$("$python" -c 'import sys; print(sys.base_prefix)')
  unstripped=$work/unstripped-$ver
  cp -a "$tree" "$unstripped"
  python3 - "$unstripped" "$prefix" "$python" <<'PY'
import os, shutil, sys
root, prefix, exe = sys.argv[1:]
for dirpath, _, names in os.walk(root):
    for name in names:
        path = os.path.join(dirpath, name)
        if os.path.islink(path) or open(path, "rb").read(4) != b"\x7fELF":
            continue
        rel = os.path.relpath(path, root)
        candidates = [os.path.join(prefix, rel), os.path.realpath(exe) if rel.startswith("bin/") else ""]
        for lib in ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu"):
            candidates.append(os.path.join(lib, name))
        for c in candidates:
            if c and os.path.isfile(c):
                shutil.copyfile(c, path)
                break
PY
  (cd "$unstripped" && tar cf - --sort=name . | zstd -q -19 -T0 -o "$work/unstripped-$ver.tar.zst")

  # Warm: the runtime against the same CPython in place.
  warm() {
    local rt in rt_cpu in_cpu
    read -r rt in rt_cpu in_cpu < <(pairs 300 "$tree/bin/python3 $*" "$python $*")
    echo "$(ms "$rt") / $(ms "$in") = **$(ratio "$rt" "$in")** (CPU $(ratio "$rt_cpu" "$in_cpu"))"
  }
  pass=$(warm -I -c pass)
  hello=$(warm -I "$work/hello.py")
  nosite=$(warm -I -S "$work/hello.py")

  # hello built on this runtime, as it is and shaken.
  app=$work/app-$ver
  mkdir -p "$app"
  printf 'name = "hello"\nrun = "hello.py"\n' >"$app/pyk.toml"
  cp "$work/hello.py" "$app/"
  (cd "$app" && PYK_CACHE_DIR=$cache "$pyk" -q build --python "$ver" >/dev/null)
  (cd "$app" && PYK_CACHE_DIR=$cache "$pyk" -q build --python "$ver" --strip-stdlib -o dist/hello-s >/dev/null)
  shaken_layer=$(grep -l '^\[shaken\]' "$cache"/layers-v2/*.toml | sed 's/\.toml$/.tar.zst/')

  # Warm: the whole artifact against the same CPython in place.
  run=$work/run-$ver
  for a in hello hello-s; do PYK_CACHE_DIR=$run "$app/dist/$a" >/dev/null; done
  artifact_warm() {
    local rt in rt_cpu in_cpu
    read -r rt in rt_cpu in_cpu < <(PYK_CACHE_DIR=$run pairs 300 "$app/dist/$1" "$python -I $work/hello.py")
    echo "$(ms "$rt") / $(ms "$in") = **$(ratio "$rt" "$in")** (CPU $(ratio "$rt_cpu" "$in_cpu"))"
  }
  art=$(artifact_warm hello)
  art_s=$(artifact_warm hello-s)

  # Cold: the first run with an empty cache.
  cold() {
    mkdir -p "$work/old"
    hyperfine -N --runs 10 --prepare "sh -c 'mv $work/cold $work/old/\$\$ 2>/dev/null; true'" \
      --export-json "$work/cold.json" "env -i PYK_CACHE_DIR=$work/cold $1" >/dev/null
    python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][0]; print("%.0f ms, min %.0f (CPU %.0f)" % (r["median"]*1e3, r["min"]*1e3, (r["user"]+r["system"])*1e3))' "$work/cold.json"
  }
  cold_full=$(cold "$app/dist/hello")
  cold_s=$(cold "$app/dist/hello-s")
  files_s=$(zstd -q -dc "$shaken_layer" | tar t | wc -l)

  rows+=("| $(basename "$python") ($ver, glibc ≥ $glibc) | $pass | $hello | $nosite | $(mib "$(stat -c %s "$layer")") (unstripped: $(mib "$(stat -c %s "$work/unstripped-$ver.tar.zst")")) |")
  hello_rows+=("| $ver | full | $art | $cold_full ($files files) | $(mib "$(stat -c %s "$layer")") | $(mib "$(stat -c %s "$app/dist/hello")") |")
  hello_rows+=("| $ver | \`--strip-stdlib\` | $art_s | $cold_s ($files_s files) | $(mib "$(stat -c %s "$shaken_layer")") | $(mib "$(stat -c %s "$app/dist/hello-s")") |")
  rm -rf "$tree" "$unstripped" "$work/cold" "$work/old" "$run"
done

echo "load: $(uptime | sed 's/.*load average: //')"
cat <<TABLE
| runtime ($(nproc) cores) | warm \`-I -c pass\`, ms: runtime / in place | warm \`-I hello.py\` | warm \`-I -S hello.py\` | layer, zstd 19 |
| --- | --- | --- | --- | --- |
$(printf '%s\n' "${rows[@]}")

| Python | hello runtime | warm \`./hello\` / \`python3.X -I hello.py\`, ms | first run, empty cache | runtime layer | artifact |
| --- | --- | --- | --- | --- | --- |
$(printf '%s\n' "${hello_rows[@]}")
TABLE
