//! Artifacts run on a machine that has glibc and nothing else: a root filesystem built here
//! from the host's glibc files, entered with `unshare -m --fork` + `chroot` (root only, as CI
//! runs), /proc mounted for the launcher's `/proc/self/exe`. The app uses every stdlib module
//! that needs a library beyond glibc.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// The app: each import below loads a shared library that Debian's CPython takes from the host.
const APP: &str = r#"import bz2, ctypes, decimal, hashlib, lzma, sqlite3, ssl, sys, zlib
import xml.etree.ElementTree as ET
ssl.create_default_context()
db = sqlite3.connect(":memory:")
db.execute("create table t (x)")
db.execute("insert into t values (41)")
print("sqlite", db.execute("select x + 1 from t").fetchone()[0])
print("xml", ET.fromstring("<a><b>ok</b></a>").find("b").text)
print("ctypes", ctypes.CDLL(None).strlen(b"four"))
data = b"pyk" * 100
assert lzma.decompress(lzma.compress(data)) == data
assert bz2.decompress(bz2.compress(data)) == data
assert zlib.decompress(zlib.compress(data)) == data
print("sha256", hashlib.sha256(b"").hexdigest()[:8])
print("decimal", decimal.Decimal("1.1") + decimal.Decimal("2.2"))
print("prefix", sys.prefix)
"#;

/// glibc's libraries, the loader and libgcc_s, copied from the host to the same paths.
const GLIBC: &[&str] = &[
    "libc.so.6",
    "libm.so.6",
    "libdl.so.2",
    "librt.so.1",
    "libpthread.so.0",
    "libutil.so.1",
    "libresolv.so.2",
    "libgcc_s.so.1",
];
const LIB_DIRS: &[&str] = &[
    "/lib/x86_64-linux-gnu",
    "/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/lib64",
];
const LOADERS: &[&str] = &["/lib64/ld-linux-x86-64.so.2", "/lib/ld-linux-aarch64.so.1"];

fn copy_from_host(host: &Path, root: &Path) {
    let dest = root.join(host.strip_prefix("/").unwrap());
    fs::create_dir_all(dest.parent().unwrap()).unwrap();
    // fs::copy follows symlinks: the root gets the real file under the name the loader asks.
    fs::copy(host, &dest).unwrap_or_else(|e| panic!("copy {}: {e}", host.display()));
}

/// A root holding glibc and nothing else; `None` where this is not root or unshare is missing.
fn glibc_root(dir: &Path) -> Option<PathBuf> {
    let unshare = run(Command::new("unshare").args(["-m", "--fork", "true"]));
    if !unshare.status.success() {
        eprintln!("skipped: `unshare -m` is not permitted here (the test needs root)");
        return None;
    }
    let root = dir.join("root");
    for name in GLIBC {
        let host = LIB_DIRS
            .iter()
            .map(|d| Path::new(d).join(name))
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("{name} not found on this machine"));
        copy_from_host(&host, &root);
    }
    let loader = LOADERS
        .iter()
        .map(Path::new)
        .find(|p| p.exists())
        .expect("no dynamic loader found");
    copy_from_host(loader, &root);
    for d in ["proc", "tmp", "app", "cache"] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    Some(root)
}

/// Runs `/app/NAME` inside `root`, with its runtime cache in `/cache`; returns stdout.
fn run_in_root(root: &Path, name: &str) -> String {
    let script = format!(
        "mount -t proc proc '{0}/proc' && exec chroot '{0}' /app/{name}",
        root.display()
    );
    ok(Command::new("unshare")
        .args(["-m", "--fork", "sh", "-c", &script])
        .env_clear()
        .env("PYK_CACHE_DIR", "/cache")
        .env("HOME", "/"))
}

/// What the app prints when every import worked.
const EXPECTED: &[&str] = &[
    "sqlite 42",
    "xml ok",
    "ctypes 4",
    "sha256 e3b0c442",
    "decimal 3.3",
    "prefix /cache/",
];

/// Builds `bare.py` with `pyk_toml` and runs it in a glibc-only root (or, where no such root
/// can be made, with an empty cache on this machine); returns its output.
fn run_app(cache: &Path, python: &str, pyk_toml: &str, app: &str, args: &[&str]) -> String {
    let dir = project(&[("pyk.toml", pyk_toml), ("bare.py", app)]);
    ok(pyk()
        .env("PYK_CACHE_DIR", cache)
        .current_dir(dir.path())
        .args(["build", "--python", python])
        .args(args));
    let work = tempfile::tempdir().unwrap();
    let Some(root) = glibc_root(work.path()) else {
        return ok(&mut artifact(
            &dir.path().join("dist/bare"),
            &work.path().join("cache"),
        ));
    };
    // Nothing but glibc: a host binary needing anything else cannot start there.
    assert!(!run(Command::new("chroot").arg(&root).arg("/bin/sh"))
        .status
        .success());
    fs::copy(dir.path().join("dist/bare"), root.join("app/bare")).unwrap();
    run_in_root(&root, "bare")
}

fn check_app_in_bare_root(cache: &Path, python: &str) {
    let out = run_app(
        cache,
        python,
        "name = \"bare\"\nrun = \"bare.py\"\n",
        APP,
        &[],
    );
    for line in EXPECTED {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
}

/// The same app and asyncio, json and sqlite3, on a runtime shaken down to what it imports
/// (issue 8). A module imported by a computed name is there when `keep` lists it; one that
/// is not listed fails to import with an error that says why and what to do.
#[test]
fn stripped_stdlib_runs_what_the_app_imports() {
    let app = format!(
        r#"{APP}
import asyncio, importlib, json
async def main():
    await asyncio.sleep(0)
    return json.dumps({{"asyncio": "ok"}})
print(asyncio.run(main()))
print("kept", importlib.import_module("".join(["colo", "rsys"])).__name__)
try:
    importlib.import_module("".join(["wa", "ve"]))
except ImportError as e:
    print("left out:", e)
"#
    );
    let toml = "name = \"bare\"\nrun = \"bare.py\"\nstrip_stdlib = true\nkeep = [\"colorsys\"]\n";
    let out = run_app(build_cache(), PY, toml, &app, &[]);
    for line in EXPECTED.iter().chain(&[
        "{\"asyncio\": \"ok\"}",
        "kept colorsys",
        "left out: No module named 'wave': pyk build --strip-stdlib left it out",
        "keep = [...]",
    ]) {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    // Without `keep` the computed import fails too, and the flag does what the key does.
    let out = run_app(
        build_cache(),
        PY,
        "name = \"bare\"\nrun = \"bare.py\"\n",
        "import importlib\ntry:\n    importlib.import_module(''.join(['colo', 'rsys']))\nexcept ImportError as e:\n    print(e)\n",
        &["--strip-stdlib"],
    );
    assert!(
        out.contains("No module named 'colorsys': pyk build --strip-stdlib"),
        "{out}"
    );
}

#[test]
fn debian_runtime_artifact_runs_on_a_glibc_only_root() {
    check_app_in_bare_root(build_cache(), PY);
}

#[test]
fn pyenv_runtime_artifact_runs_on_a_glibc_only_root() {
    let Some(home) = std::env::var_os("HOME") else {
        return;
    };
    let python = Path::new(&home).join(".pyenv/versions/3.12.1/bin/python3.12");
    if !python.exists() {
        eprintln!(
            "skipped: {} is absent (a pyenv 3.12.1 build is what this test adopts)",
            python.display()
        );
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    ok(pyk()
        .env("PYK_CACHE_DIR", cache.path())
        .env("PYK_ZSTD_LEVEL", "3")
        .args(["-q", "runtime", "import"])
        .arg(&python));
    check_app_in_bare_root(cache.path(), "3.12");
}
