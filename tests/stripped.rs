//! `--strip-stdlib` keeps what the import system loads on demand (`importlib.readers` for
//! `importlib.resources`, `importlib.metadata` for the path finder): real packages from PyPI
//! built stripped and unstripped give the same output, on every runtime this machine has
//! (Debian's 3.11, and the pyenv 3.12 and 3.13 builds where present).

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// requests with a Session and certifi's bundle (no network), mypy checking a small file,
/// `importlib.metadata`, and the two-line `importlib.resources` reproducer.
const APP: &str = r#"import importlib.metadata, importlib.resources, json, os, sys, tempfile
print(importlib.resources.files(json).joinpath("decoder.pyc").is_file())
import certifi, requests
s = requests.Session()
print(type(s).__name__, s.headers["User-Agent"].startswith("python-requests/"), os.path.isfile(certifi.where()))
print("requests", importlib.metadata.version("requests") == requests.__version__)
from mypy import api
with tempfile.TemporaryDirectory() as d:
    os.chdir(d)
    with open("small.py", "w") as f:
        f.write("def twice(x: int) -> int:\n    return x * 2\n\ntwice('a')\n")
    out, err, status = api.run(["small.py", "--cache-dir", os.path.join(d, "cache")])
    print(out.strip(), err.strip(), status)
"#;

/// A cache holding the runtime of `python`, imported once per target dir (under a lock).
fn cache_with(python: &Path, minor: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("pyk-stripped-{minor}"));
    fs::create_dir_all(&dir).unwrap();
    let lock = fs::File::create(dir.join("import.lock")).unwrap();
    lock.lock().unwrap();
    if !dir.join("imported").exists() {
        ok(pyk()
            .env("PYK_CACHE_DIR", &dir)
            .args(["-q", "runtime", "import"])
            .arg(python));
        fs::write(dir.join("imported"), b"").unwrap();
    }
    dir
}

fn build_and_run(cache: &Path, minor: &str, strip: bool) -> String {
    let dir = project(&[
        (
            "pyk.toml",
            "name = \"resources\"\nrun = \"app.py\"\ndependencies = [\"requests>=2.31\", \"mypy>=1.10\"]\n",
        ),
        ("app.py", APP),
    ]);
    let mut cmd = pyk();
    cmd.env("PYK_CACHE_DIR", cache)
        .current_dir(dir.path())
        .args(["-q", "build", "--python", minor]);
    if strip {
        cmd.arg("--strip-stdlib");
    }
    ok(&mut cmd);
    let run_cache = tempfile::tempdir().unwrap();
    ok(Command::new("env")
        .arg("-i")
        .arg(format!("PYK_CACHE_DIR={}", run_cache.path().display()))
        .arg(dir.path().join("dist/resources")))
}

fn same_output_stripped(python: &Path, minor: &str) {
    if !python.exists() {
        eprintln!("skipped Python {minor}: {} is absent", python.display());
        return;
    }
    let cache = cache_with(python, minor);
    let full = build_and_run(&cache, minor, false);
    let stripped = build_and_run(&cache, minor, true);
    assert!(full.starts_with("True\nSession True True\nrequests True\nsmall.py:4: error: Argument 1 to \"twice\" has incompatible type \"str\"; expected \"int\""), "Python {minor}, unstripped:\n{full}");
    assert_eq!(full, stripped, "Python {minor}: stripped output differs");
}

#[test]
fn stripped_runtime_3_11_runs_requests_and_mypy_as_the_full_one() {
    same_output_stripped(Path::new(SYSTEM_PYTHON), "3.11");
}

fn pyenv(version: &str) -> PathBuf {
    let home = std::env::var_os("HOME").unwrap_or_default();
    let minor = version.rsplit_once('.').unwrap().0;
    Path::new(&home).join(format!(".pyenv/versions/{version}/bin/python{minor}"))
}

#[test]
fn stripped_runtime_3_12_runs_requests_and_mypy_as_the_full_one() {
    same_output_stripped(&pyenv("3.12.1"), "3.12");
}

#[test]
fn stripped_runtime_3_13_runs_requests_and_mypy_as_the_full_one() {
    same_output_stripped(&pyenv("3.13.0"), "3.13");
}
