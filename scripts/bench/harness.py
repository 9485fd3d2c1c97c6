"""pyk against what a user would pick instead, for the apps under scripts/bench/apps/.

Called by scripts/bench-apps.sh (which builds pyk first); see that script for what it needs.
Every tool runs the same CPython (PY): pyk bundles it as a runtime (`pyk runtime import PY`);
the venv and PyInstaller are made from PY itself; PyApp embeds pyk's unpacked runtime of PY
(so the interpreter and stdlib are byte for byte pyk's) with the app's site-packages added.
Baselines are cached under ROOT/<python tag>/base/<app>-<hash>/ and rebuilt only when missing
(the hash covers the app's files, PY and the baseline tools' versions).
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import measure  # noqa: E402

PYINSTALLER = "pyinstaller==6.22.3"
PYAPP_VERSION = "0.31.0"
# Bump when the way baselines are built changes: every cached baseline is rebuilt.
BASE_FORMAT = "1"
APPS_DIR = Path(__file__).resolve().parent / "apps"


@dataclass
class App:
    key: str
    target: str  # what `pyk build` is given, relative to APPS_DIR
    script: str  # the script every other tool runs, relative to APPS_DIR
    args: list
    rounds: int  # interleaved rounds of warm runs
    first_run: bool = False
    deps: list = field(default_factory=list)


APPS = [
    App("hello", "hello", "hello/hello.py", [], 60, first_run=True),
    App("click", "click/greet.py", "click/greet.py", ["--count", "3", "pyk"], 40),
    App("rich", "rich/table.py", "rich/table.py", [], 40),
    App("numpy", "numpy/matmul.py", "numpy/matmul.py", [], 30, first_run=True),
    App("yt-dlp", "ytdlp", "ytdlp/yt.py", ["--version"], 20),
    App("httpie", "httpie", "httpie/run_http.py",
        ["--offline", "--ignore-stdin", "example.org", "a=1"], 20),
]

PEP723 = re.compile(r"(?m)^# /// (?P<type>[a-zA-Z0-9-]+)$\s(?P<content>(^#(| .*)$\s)+)^# ///$")


def script_metadata(path):
    """The script's PEP 723 `script` block, as the PEP's reference regex reads it."""
    for m in PEP723.finditer(path.read_text()):
        if m.group("type") == "script":
            body = "".join(line[2:] if line.startswith("# ") else line[1:]
                           for line in m.group("content").splitlines(keepends=True))
            return tomllib.loads(body)
    return {}


def app_deps(app):
    deps = list(script_metadata(APPS_DIR / app.script).get("dependencies", []))
    spec = APPS_DIR / app.target / "pyk.toml"
    if spec.is_file():
        deps += tomllib.loads(spec.read_text()).get("dependencies", [])
    return deps


def log(*a):
    print("bench:", *a, file=sys.stderr, flush=True)


def run(argv, **kw):
    kw.setdefault("check", True)
    return subprocess.run([str(a) for a in argv], **kw)


def nice(argv):
    return ["nice", "-n", "19", *argv]


def tree_size(path):
    total = 0
    for dirpath, _, names in os.walk(path):
        for n in names:
            p = os.path.join(dirpath, n)
            if not os.path.islink(p):
                total += os.path.getsize(p)
    return total


# ---------------------------------------------------------------- pyk


def pyk_runtime(pyk, cache, py):
    """Imports PY as a runtime unless the cache already holds one imported from it."""
    env = dict(os.environ, PYK_CACHE_DIR=str(cache))
    listed = run([pyk, "runtime", "list"], env=env, capture_output=True, text=True, check=False)
    if f"imported from {py}" not in listed.stdout:
        log(f"pyk runtime import {py} (once per cache; about a minute)")
        run(nice([pyk, "-q", "runtime", "import", py]), env=env)


def pyk_build(pyk, cache, app, ver, out):
    env = dict(os.environ, PYK_CACHE_DIR=str(cache))
    out.unlink(missing_ok=True)
    t = time.perf_counter()
    r = run(nice([pyk, "-q", "build", APPS_DIR / app.target, "--python", ver, "-o", out]),
            env=env, capture_output=True, text=True, check=False)
    secs = time.perf_counter() - t
    if r.returncode != 0 or not out.is_file():
        msg = (r.stderr or r.stdout).strip().splitlines()
        return None, msg[-1] if msg else f"exit {r.returncode}"
    return secs, None


def unpacked_runtime(cache, ver):
    """The runtime tree pyk unpacked in its cache (by a build or a run): ROOT/bin/python3."""
    found = []
    for python in cache.glob("runtimes*/*/bin/python3"):
        root = python.parent.parent
        if root.name.startswith("."):
            continue
        if (root / "lib" / f"python{ver}").is_dir():
            found.append(root)
    found.sort(key=lambda p: (p / "bin" / "python3").stat().st_mtime)
    return found[-1] if found else None


def runtime_site_dir(runtime):
    """Where the runtime's own `site` looks for packages: the directory of pyk's `_pyk.pth`,
    else the first site-packages directory that exists."""
    pth = sorted(runtime.glob("lib/**/_pyk.pth"))
    if pth:
        return pth[0].parent.relative_to(runtime)
    r = run([runtime / "bin/python3", "-I", "-c", "import site; print('\\n'.join(site.getsitepackages()))"],
            capture_output=True, text=True)
    for line in r.stdout.splitlines():
        p = Path(line)
        if p.is_dir():
            return p.relative_to(runtime)
    return Path("lib") / f"python{runtime_version(runtime)}" / "site-packages"


def runtime_version(runtime):
    return next(runtime.glob("lib/python3.*")).name[len("python"):]


# ---------------------------------------------------------------- baselines


def venv(py, path, packages):
    """A venv with nothing but `packages`, installed by uv with their bytecode compiled."""
    if (path / "done").is_file():
        return
    shutil.rmtree(path, ignore_errors=True)
    run([py, "-m", "venv", "--without-pip", path])
    if packages:
        run(nice(["uv", "pip", "install", "-q", "--compile-bytecode", "--python", path / "bin/python", *packages]))
    (path / "done").write_text("")


def site_packages(venv_dir):
    return next(venv_dir.glob("lib/python3.*/site-packages"))


def build_pyinstaller(py, app, d, name):
    out = d / "pyinstaller" / name
    if out.is_file():
        return out
    env_dir = d / "pyi-venv"
    venv(py, env_dir, [PYINSTALLER, *app.deps])
    work = d / "pyi-work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    log(f"PyInstaller --onefile {app.key}")
    t = time.perf_counter()
    run(nice([env_dir / "bin/pyinstaller", "--onefile", "--noconfirm", "--log-level", "WARN",
              "--name", name, "--distpath", d / "pyinstaller", "--workpath", work / "build",
              "--specpath", work, APPS_DIR / app.script]), cwd=work)
    record(d, "pyinstaller_build_s", time.perf_counter() - t)
    shutil.rmtree(work, ignore_errors=True)
    return out


def pyapp_source(root):
    """PyApp's crate source, fetched from crates.io by cargo and unpacked fresh."""
    src = root / f"pyapp-{PYAPP_VERSION}"
    if (src / "Cargo.toml").is_file():
        return src
    run(["cargo", "info", f"pyapp@{PYAPP_VERSION}"], capture_output=True)
    home = Path(os.environ.get("CARGO_HOME", Path.home() / ".cargo"))
    crates = sorted(home.glob(f"registry/cache/*/pyapp-{PYAPP_VERSION}.crate"))
    if not crates:
        raise RuntimeError(f"cargo did not fetch pyapp {PYAPP_VERSION}")
    with tarfile.open(crates[0]) as t:
        t.extractall(root, filter="data")
    return src


def build_pyapp(root, app, d, name, runtime, venv_dir):
    """PyApp with an embedded distribution: pyk's runtime of PY as `python/`, the app's
    site-packages inside it, installed nothing at run time (full isolation, skip install):
    a first run unpacks the distribution, later runs exec `python3 -I script`."""
    out = d / "pyapp" / name
    if out.is_file():
        return out
    site_rel = runtime_site_dir(runtime)
    stage = d / "pyapp-stage"
    shutil.rmtree(stage, ignore_errors=True)
    shutil.copytree(runtime, stage / "python", symlinks=True)
    shutil.copytree(site_packages(venv_dir), stage / "python" / site_rel, symlinks=True, dirs_exist_ok=True)
    dist = d / "pyapp-dist.tar.zst"
    run(["sh", "-c", 'tar -C "$1" --sort=name -cf - python | zstd -q -19 -T0 -f -o "$2"', "sh", stage, dist])
    shutil.rmtree(stage)
    # A fresh copy of the crate per build, its files dated now: its build script reads the
    # configuration from the environment and declares no rerun-if-env-changed, and cargo
    # fingerprints a path package by its files' mtimes, not its path (with the target dir
    # shared so that PyApp's dependencies build once, a copy with the original dates was
    # taken as fresh and every app got the first app's binary).
    src = d / "pyapp-src"
    shutil.rmtree(src, ignore_errors=True)
    shutil.copytree(pyapp_source(root), src)
    now = time.time()
    for p in src.rglob("*"):
        os.utime(p, (now, now))
    env = dict(os.environ,
               CARGO_TARGET_DIR=str(root / "pyapp-target"),
               PYAPP_PROJECT_NAME=name,
               PYAPP_PROJECT_VERSION="1.0.0",
               PYAPP_DISTRIBUTION_PATH=str(dist),
               PYAPP_DISTRIBUTION_PYTHON_PATH="python/bin/python3",
               PYAPP_DISTRIBUTION_SITE_PACKAGES_PATH=f"python/{site_rel}",
               PYAPP_FULL_ISOLATION="1",
               PYAPP_SKIP_INSTALL="1",
               PYAPP_EXEC_SCRIPT=str(APPS_DIR / app.script))
    log(f"PyApp {PYAPP_VERSION} for {app.key} (cargo build --release: minutes)")
    t = time.perf_counter()
    run(nice(["cargo", "build", "--release", "--locked", "--quiet", "--manifest-path", src / "Cargo.toml"]), env=env)
    record(d, "pyapp_build_s", time.perf_counter() - t)
    built = root / "pyapp-target" / "release" / "pyapp"
    if built.stat().st_size < dist.stat().st_size:
        raise RuntimeError(f"PyApp for {app.key}: the binary is smaller than the distribution it embeds")
    out.parent.mkdir(exist_ok=True)
    shutil.copy2(built, out)
    record(d, "pyapp_runtime", str(runtime))
    shutil.rmtree(src)
    return out


def record(d, key, value):
    meta = d / "meta.json"
    data = json.loads(meta.read_text()) if meta.is_file() else {}
    data[key] = value
    meta.write_text(json.dumps(data, indent=1))


def baseline_dir(base, app, py_id):
    h = hashlib.sha256()
    for p in sorted((APPS_DIR / Path(app.script).parts[0]).rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(APPS_DIR)).encode() + b"\0" + p.read_bytes())
    h.update(f"{py_id}|{PYINSTALLER}|{PYAPP_VERSION}|{BASE_FORMAT}".encode())
    return base / f"{app.key}-{h.hexdigest()[:12]}"


# ---------------------------------------------------------------- main


def wait_for_quiet(limit, max_wait):
    """Waits (at most max_wait seconds) for the 1-minute load average to drop below limit."""
    deadline = time.time() + max_wait
    while os.getloadavg()[0] >= limit and time.time() < deadline:
        time.sleep(15)
    return os.getloadavg()


def fmt_ms(s):
    return f"{s * 1000:.1f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--report", type=Path, help="print the tables of a results-*.json again")
    ap.add_argument("--python")
    ap.add_argument("--pyk", type=Path)
    ap.add_argument("--root", type=Path)
    ap.add_argument("--pyk-cache", type=Path, help="default ROOT/<python>/pyk-cache")
    ap.add_argument("--label", default="", help="what pyk was built from (the wrapper passes the commit)")
    ap.add_argument("--apps", default=",".join(a.key for a in APPS))
    ap.add_argument("--rounds", type=float, default=1.0, help="scale every app's rounds")
    ap.add_argument("--first-runs", type=int, default=10)
    ap.add_argument("--no-pyapp", action="store_true")
    ap.add_argument("--wait-load", type=float, default=0.0, help="wait for the load to drop below this")
    ap.add_argument("--wait-max", type=float, default=600.0)
    o = ap.parse_args()
    if o.report:
        return report(json.loads(o.report.read_text()))
    if not (o.python and o.pyk and o.root):
        ap.error("--python, --pyk and --root are needed")

    py = o.python
    ver, full = run([py, "-c", "import sys; v = sys.version_info; print('%d.%d %d.%d.%d' % (v[:2] + v[:3]))"],
                    capture_output=True, text=True).stdout.split()
    py_id = f"{os.path.realpath(py)} {full}"
    tag = f"{Path(os.path.realpath(py)).name}-{full}"
    root = o.root.resolve()
    top = root / tag
    cache = (o.pyk_cache or top / "pyk-cache").resolve()
    arts = top / "pyk"
    arts.mkdir(parents=True, exist_ok=True)
    apps = [a for a in APPS if a.key in o.apps.split(",")]
    for a in apps:
        a.deps = app_deps(a)

    pyk_version = run([o.pyk, "--version"], capture_output=True, text=True, check=False).stdout.strip()
    if o.label:
        pyk_version += f" ({o.label})"
    log(f"{pyk_version}, Python {full} ({py}), root {top}")
    pyk_runtime(o.pyk, cache, py)

    results = {"python": py, "python_version": full, "pyk": pyk_version, "apps": {}}
    # pyk artifacts: rebuilt on every run (pyk is what changes).
    for a in apps:
        secs, err = pyk_build(o.pyk, cache, a, ver, arts / a.key)
        results["apps"][a.key] = {"pyk_build_s": secs, "pyk_error": err}
        log(f"pyk build {a.key}: " + (f"{secs:.1f} s" if err is None else f"FAILED: {err}"))

    runtime = unpacked_runtime(cache, ver)
    if runtime is None and (arts / "hello").is_file():
        run([arts / "hello"], env=dict(os.environ, PYK_CACHE_DIR=str(cache)), capture_output=True)
        runtime = unpacked_runtime(cache, ver)

    # Baselines, cached.
    base = top / "base"
    dirs = {}
    for a in apps:
        d = baseline_dir(base, a, py_id)
        d.mkdir(parents=True, exist_ok=True)
        dirs[a.key] = d
        name = a.key.replace("-", "_")
        venv(py, d / "venv", a.deps)
        try:
            build_pyinstaller(py, a, d, name)
        except subprocess.CalledProcessError as e:
            log(f"PyInstaller {a.key} failed: {e}")
        if not o.no_pyapp:
            if runtime is None and not (d / "pyapp" / name).is_file():
                log(f"PyApp {a.key}: no unpacked pyk runtime to embed (did pyk build hello?)")
            else:
                try:
                    build_pyapp(root, a, d, name, runtime, d / "venv")
                except (subprocess.CalledProcessError, RuntimeError) as e:
                    log(f"PyApp {a.key} failed: {e}")

    # Commands per app; the venv's output is the reference every other tool must print.
    pyapp_home = top / "pyapp-home"
    cold = top / "cold"
    load_before = wait_for_quiet(o.wait_load, o.wait_max) if o.wait_load else os.getloadavg()
    log(f"load before timing: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}")
    t0 = time.time()
    for a in apps:
        d, name, res = dirs[a.key], a.key.replace("-", "_"), results["apps"][a.key]
        script = str(APPS_DIR / a.script)
        cmds = {
            "venv": measure.Cmd("venv", [str(d / "venv/bin/python"), "-I", script, *a.args]),
            "pyk": measure.Cmd("pyk", [str(arts / a.key), *a.args], env={"PYK_CACHE_DIR": str(cache)}),
            "pyapp": measure.Cmd("pyapp", [str(d / "pyapp" / name), *a.args],
                                 env={"XDG_DATA_HOME": str(pyapp_home / "data"),
                                      "XDG_CACHE_HOME": str(pyapp_home / "cache")}),
            "pyinstaller": measure.Cmd("pyinstaller", [str(d / "pyinstaller" / name), *a.args]),
        }
        if a.key == "hello":
            cmds["python"] = measure.Cmd("python", [py, "-I", script])
        ok, ref = measure.check(cmds["venv"])
        if not ok:
            log(f"{a.key}: the venv fails ({ref}); skipped")
            res["error"] = f"venv: {ref}"
            continue
        res["skipped"] = {}
        for label, c in list(cmds.items()):
            if label == "pyk" and res["pyk_error"]:
                res["skipped"][label] = f"build refused: {res['pyk_error']}"
            elif not os.path.isfile(c.argv[0]):
                res["skipped"][label] = "not built"
            else:
                good, out = measure.check(c)
                if good and out == ref:
                    continue
                res["skipped"][label] = out if not good else "output differs from the venv's"
            del cmds[label]
        for label, why in res["skipped"].items():
            log(f"{a.key}: {label} left out: {why}")

        rounds = max(3, int(a.rounds * o.rounds))
        log(f"{a.key}: warm, {rounds} interleaved rounds of {', '.join(cmds)}")
        measure.interleaved(list(cmds.values()), rounds)
        res["warm"] = {k: {"wall": measure.median(c.wall), "cpu": measure.median(c.cpu),
                           "min": min(c.wall), "n": len(c.wall)} for k, c in cmds.items()}

        if a.first_run:
            firsts = []
            if "pyk" in cmds:
                where = cold / "pyk"
                firsts.append(measure.Cmd("pyk", cmds["pyk"].argv, env={"PYK_CACHE_DIR": str(where)},
                                          prepare=lambda w=where: shutil.rmtree(w, ignore_errors=True)))
            if "pyapp" in cmds:
                where = cold / "pyapp"
                firsts.append(measure.Cmd("pyapp", cmds["pyapp"].argv,
                                          env={"XDG_DATA_HOME": str(where / "data"),
                                               "XDG_CACHE_HOME": str(where / "cache")},
                                          prepare=lambda w=where: shutil.rmtree(w, ignore_errors=True)))
            if firsts:
                log(f"{a.key}: first runs, {o.first_runs} interleaved rounds of {', '.join(c.label for c in firsts)}")
                measure.interleaved(firsts, o.first_runs, warmup=1)
                res["first"] = {c.label: {"wall": measure.median(c.wall), "min": min(c.wall),
                                          "cpu": measure.median(c.cpu)} for c in firsts}
            shutil.rmtree(cold, ignore_errors=True)

        sizes = {"pyk": arts / a.key, "pyapp": d / "pyapp" / name, "pyinstaller": d / "pyinstaller" / name}
        res["size"] = {k: p.stat().st_size for k, p in sizes.items() if p.is_file()}
        res["size"]["venv"] = tree_size(site_packages(d / "venv"))
        meta = d / "meta.json"
        res["baseline"] = {"dir": str(d), **(json.loads(meta.read_text()) if meta.is_file() else {})}

    load_after = os.getloadavg()
    results["load"] = {"before": load_before, "after": load_after, "timing_s": time.time() - t0}
    results["cores"] = os.cpu_count()
    out = top / f"results-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(results, indent=1))
    report(results)
    log(f"results: {out}")


def report(r):
    apps = r["apps"]
    print(f"\n## pyk against the alternatives: Python {r['python_version']} ({r['python']}), {r['pyk']}, "
          f"{r['cores']} cores, load {r['load']['before'][0]:.2f} before / {r['load']['after'][0]:.2f} after "
          f"(1-min avg), {r['load']['timing_s']:.0f} s of timing\n")
    print("Warm start: median wall ms of interleaved rounds; ratio = pyk : other (< 1: pyk is faster); "
          "CPU-time ratio in brackets.\n")
    print("| app | pyk | venv | pyk : venv | PyApp | pyk : PyApp | PyInstaller | pyk : PyInstaller | rounds |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for key, a in apps.items():
        w = a.get("warm")
        if not w:
            print(f"| {key} | {a.get('error') or a.get('pyk_error')} | | | | | | | |")
            continue
        cells = [key, fmt_ms(w["pyk"]["wall"]) if "pyk" in w else "—"]
        for other in ("venv", "pyapp", "pyinstaller"):
            if other not in w:
                cells += ["—", "—"]
                continue
            cells.append(fmt_ms(w[other]["wall"]))
            if "pyk" in w:
                cells.append(f"**{w['pyk']['wall'] / w[other]['wall']:.2f}×** "
                             f"({w['pyk']['cpu'] / w[other]['cpu']:.2f}×)")
            else:
                cells.append("—")
        cells.append(str(max(x["n"] for x in w.values())))
        print("| " + " | ".join(cells) + " |")
    h = apps.get("hello", {}).get("warm", {})
    if "pyk" in h and "python" in h:
        print(f"\nhello: `./hello` {fmt_ms(h['pyk']['wall'])} ms : `{r['python']} -I hello.py` in place "
              f"{fmt_ms(h['python']['wall'])} ms = **{h['pyk']['wall'] / h['python']['wall']:.3f}×** "
              f"(CPU {h['pyk']['cpu'] / h['python']['cpu']:.3f}×; fastest runs {fmt_ms(h['pyk']['min'])} : "
              f"{fmt_ms(h['python']['min'])} ms)")
    firsts = {k: a["first"] for k, a in apps.items() if a.get("first")}
    if firsts:
        print("\nFirst run (empty cache each time): median ms (fastest)\n")
        print("| app | pyk | PyApp | pyk : PyApp | PyInstaller (every run) |")
        print("| --- | --- | --- | --- | --- |")
        for key, f in firsts.items():
            p, q = f.get("pyk"), f.get("pyapp")
            pyi = apps[key]["warm"].get("pyinstaller")
            print(f"| {key} | " + (f"{fmt_ms(p['wall'])} ({fmt_ms(p['min'])})" if p else "—") + " | "
                  + (f"{fmt_ms(q['wall'])} ({fmt_ms(q['min'])})" if q else "—") + " | "
                  + (f"**{p['wall'] / q['wall']:.2f}×**" if p and q else "—") + " | "
                  + (fmt_ms(pyi["wall"]) if pyi else "—") + " |")
    print("\nSizes (MiB; ratio pyk : other)\n")
    print("| app | pyk | PyApp | pyk : PyApp | PyInstaller | pyk : PyInstaller | venv site-packages |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for key, a in apps.items():
        s = a.get("size")
        if not s:
            continue
        mib = lambda k: f"{s[k] / 1048576:.1f}" if k in s else "—"  # noqa: E731
        rat = lambda k: f"{s['pyk'] / s[k]:.2f}×" if k in s and "pyk" in s else "—"  # noqa: E731
        print(f"| {key} | {mib('pyk')} | {mib('pyapp')} | {rat('pyapp')} | {mib('pyinstaller')} | "
              f"{rat('pyinstaller')} | {mib('venv')} |")
    skipped = [(k, l, why) for k, a in apps.items() for l, why in a.get("skipped", {}).items()]
    if skipped:
        print("\nLeft out:\n")
        for k, l, why in skipped:
            print(f"- {k}, {l}: {why}")


if __name__ == "__main__":
    main()
