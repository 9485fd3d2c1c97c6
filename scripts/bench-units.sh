#!/usr/bin/env bash
# Dependencies as units (issue 25): this tree's release pyk (or BENCH_PYK) against the
# layout before units, one deps layer per app (BENCH_BASE: a release pyk built from a commit
# before units, such as 9a5fcd6, with `cargo build --release -p pyk`; the README's figures
# used setup.sh's /opt/pyk-tests/release/pyk while it was that build). For each, its own
# `pyk serve` on
# 127.0.0.1 (with --metrics-addr: bytes sent are read from pyk_http_sent_bytes_total) and
# fresh client caches:
#   - five apps that all use numpy 2.1.3 and pandas 2.2.3 (four with one more small
#     distribution each), run by one client: bytes fetched and the cache's size (du, which
#     counts a hard-linked file once), against one app's;
#   - a dependency bump (requests 2.32.3 -> 2.32.4 in one of them): bytes fetched by a
#     client that ran the old version, against the new requests unit, app layer and
#     trailer blob;
#   - the first run of a second app sharing numpy and pandas with one already run, against
#     its first run on an empty cache (BENCH_ROUNDS interleaved rounds, default 3);
#   - the warm start of the first app's artifact (`./a`), BENCH_WARM interleaved pairs
#     (default 30), this layout against the base's.
# Usage: BENCH_BASE=PYK scripts/bench-units.sh. Needs uv, python3 and PyPI (or uv's cache).
set -euo pipefail
cd "$(dirname "$0")/.."
pyk=${BENCH_PYK:-}
if [ -z "$pyk" ]; then
  nice -n 10 cargo build --release --quiet -p pyk
  pyk=${CARGO_TARGET_DIR:-$PWD/target}/release/pyk
fi
base=${BENCH_BASE:-}
[ -x "$base" ] || { echo "bench-units: set BENCH_BASE to a release pyk from before units (e.g. built at 9a5fcd6)" >&2; exit 1; }
unset PYK_ZSTD_LEVEL PYK_PYTHON PYK_SERVER PYK_CACHE_DIR
python3 - "$pyk" "$base" "${BENCH_ROUNDS:-3}" "${BENCH_WARM:-30}" <<'EOF'
import json, os, re, shutil, socket, statistics, subprocess, sys, tempfile, time, urllib.request

new, base, rounds, warm_pairs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
COMMON = ["numpy==2.1.3", "pandas==2.2.3"]
APPS = {"a": [], "b": ["PyYAML==6.0.2"], "c": ["requests==2.32.3"], "d": ["click==8.1.7"],
        "e": ["attrs==24.2.0"]}
SCRIPT = "import numpy, pandas\nprint('{name}', int(pandas.DataFrame({{'x': numpy.arange(4)}}).x.sum()))\n"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Layout:
    """One pyk, its repository and its publishing machine."""

    def __init__(self, label, pyk):
        self.label, self.pyk = label, pyk
        self.work = tempfile.mkdtemp(prefix=f"bench-units-{label}-")
        self.env = dict(os.environ, HOME=self.work, PYK_KEY="bench",
                        PYK_CACHE_DIR=os.path.join(self.work, "publisher"),
                        PYK_CONFIG=os.path.join(self.work, "config.toml"))
        open(self.env["PYK_CONFIG"], "w").close()
        subprocess.run([pyk, "-q", "runtime", "import", "/usr/bin/python3.11"], env=self.env, check=True)
        self.metrics = free_port()
        log = open(os.path.join(self.work, "serve.log"), "w")
        self.server = subprocess.Popen(
            [pyk, "serve", "--host", "127.0.0.1", "--port", "0", "--metrics-addr",
             f"127.0.0.1:{self.metrics}", os.path.join(self.work, "store")],
            env=self.env, stderr=log)
        for _ in range(100):
            text = open(os.path.join(self.work, "serve.log")).read()
            m = re.search(r"http://127\.0\.0\.1:[0-9]+", text)
            if m:
                break
            time.sleep(0.1)
        self.env["PYK_SERVER"] = m.group(0)
        self.caches = 0

    def publish(self, name, deps, version):
        d = os.path.join(self.work, name)
        os.makedirs(d, exist_ok=True)
        toml = f'name = "{name}"\nrun = "app.py"\ndependencies = {json.dumps(COMMON + deps)}\n'
        open(os.path.join(d, "pyk.toml"), "w").write(toml)
        open(os.path.join(d, "app.py"), "w").write(SCRIPT.format(name=name))
        subprocess.run([self.pyk, "-q", "publish", "--python", "3.11", "--version", str(version)],
                       cwd=d, env=self.env, check=True)
        return os.path.join(d, "dist", name)

    def sent(self):
        text = urllib.request.urlopen(f"http://127.0.0.1:{self.metrics}/metrics").read().decode()
        return sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines()
                   if l.startswith("pyk_http_sent_bytes_total"))

    def cache(self):
        self.caches += 1
        return os.path.join(self.work, f"client{self.caches}")

    def run(self, cache, name):
        env = dict(self.env, PYK_CACHE_DIR=cache)
        start = time.perf_counter()
        out = subprocess.run([self.pyk, name], env=env, check=True, capture_output=True, text=True).stdout
        took = time.perf_counter() - start
        assert out.split()[0] == name and out.split()[1] == "6", out
        return took

    def close(self):
        self.server.terminate()
        self.server.wait()
        shutil.rmtree(self.work, ignore_errors=True)


def du(path):
    out = subprocess.run(["du", "-sb", path], check=True, capture_output=True, text=True).stdout
    return int(out.split()[0])


def mib(n):
    return f"{n / 2**20:.1f} MiB"


def inspect(pyk, path):
    return json.loads(subprocess.run([pyk, "inspect", "--json", path], check=True,
                                     capture_output=True, text=True).stdout)


layouts = [Layout("units", new), Layout("base", base)]
try:
    artifacts = {}
    for lay in layouts:
        for name, deps in APPS.items():
            artifacts[(lay.label, name)] = lay.publish(name, deps, 1)
    print("five apps sharing numpy 2.1.3 and pandas 2.2.3, one client, fresh cache:")
    for lay in layouts:
        cache = lay.cache()
        before = lay.sent()
        lay.run(cache, "a")
        one_bytes, one_du = lay.sent() - before, du(cache)
        for name in list(APPS)[1:]:
            lay.run(cache, name)
        five_bytes, five_du = lay.sent() - before, du(cache)
        lay.bump_cache = cache
        print(f"  {lay.label:5}: fetched {mib(one_bytes)} for one app, {mib(five_bytes)} for five "
              f"({five_bytes / one_bytes:.2f}x); cache {mib(one_du)} for one, {mib(five_du)} for five "
              f"({five_du / one_du:.2f}x)")
    print("a dependency bump, requests 2.32.3 -> 2.32.4 in app c, on the client that ran c:")
    for lay in layouts:
        path = lay.publish("c", ["requests==2.32.4"], 2)
        before = lay.sent()
        lay.run(lay.bump_cache, "c")
        fetched = lay.sent() - before
        info = inspect(lay.pyk, path)
        layers = info["layers"]
        app = next(l for l in layers if l["role"] == "app")
        trailer = info["size"] - (layers[-1]["offset"] + layers[-1]["len"])
        unit = next((l for l in layers if (l.get("name") or "").startswith("requests-")), None)
        need = app["len"] + trailer + (unit["len"] if unit else 0)
        what = (f"requests unit {unit['len']:,} B + app layer {app['len']:,} B + trailer blob {trailer:,} B"
                if unit else f"app layer {app['len']:,} B + trailer blob {trailer:,} B (no units)")
        print(f"  {lay.label:5}: fetched {fetched:,.0f} B; {what} = {need:,} B ({fetched / need:.2f}x)")
    print(f"first run of app b, fresh cache, {rounds} interleaved rounds:")
    for lay in layouts:
        alone, shared = [], []
        for _ in range(rounds):
            alone.append(lay.run(lay.cache(), "b"))
            cache = lay.cache()
            lay.run(cache, "a")
            shared.append(lay.run(cache, "b"))
        print(f"  {lay.label:5}: on an empty cache {statistics.median(alone):.2f} s "
              f"({' / '.join(f'{t:.2f}' for t in alone)}), after app a {statistics.median(shared):.2f} s "
              f"({' / '.join(f'{t:.2f}' for t in shared)}): {statistics.median(shared) / statistics.median(alone):.2f}x")
    print(f"warm start of ./a (numpy and pandas imported), {warm_pairs} interleaved pairs:")
    runs = {}
    for lay in layouts:
        env = dict(lay.env, PYK_CACHE_DIR=lay.cache())
        runs[lay.label] = (artifacts[(lay.label, "a")], env)
        subprocess.run([runs[lay.label][0]], env=env, check=True, capture_output=True)
    times = {k: [] for k in runs}
    for _ in range(warm_pairs):
        for label, (path, env) in runs.items():
            start = time.perf_counter()
            subprocess.run([path], env=env, check=True, capture_output=True)
            times[label].append(time.perf_counter() - start)
    ratios = [u / b for u, b in zip(times["units"], times["base"])]
    print(f"  units {statistics.median(times['units']) * 1000:.1f} ms, base "
          f"{statistics.median(times['base']) * 1000:.1f} ms median; pair-median ratio "
          f"{statistics.median(ratios):.3f}")
finally:
    for lay in layouts:
        lay.close()
EOF
