//! Importing installed CPythons: Debian's /usr/bin/python3.11 (static libpython, stdlib found
//! relative to the binary) and a pyenv build (libpython through an absolute RUNPATH).

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use pyk_runtime_fetch::{import_installed, FetchError};

const DEBIAN: &str = "/usr/bin/python3.11";

#[test]
fn debian_python_imports_runs_elsewhere_and_is_reproducible() {
    if !Path::new(DEBIAN).exists() {
        eprintln!("note: {DEBIAN} absent, skipping");
        return;
    }
    let (_cache, store) = common::store();
    let started = Instant::now();
    let layer = import_installed(&store, Path::new(DEBIAN), None, &common::quiet()).unwrap();
    eprintln!(
        "debian import: {:.1}s, layer {} bytes at zstd 3",
        started.elapsed().as_secs_f64(),
        layer.size
    );
    assert_eq!(layer.python.to_string().rsplit_once('.').unwrap().0, "3.11");
    assert_eq!(layer.source, format!("imported from {DEBIAN}"));
    assert_eq!(store.list().unwrap(), vec![layer.clone()]);

    let elsewhere = tempfile::tempdir().unwrap();
    let runtime = common::unpack(&layer, &elsewhere.path().join("rt"));
    let out = common::run_python(
        &runtime,
        "import sys, json, ssl, sqlite3; print(sys.prefix)",
    );
    assert_eq!(out.trim(), runtime.to_str().unwrap());

    // What was stripped is gone, what apps need is precompiled.
    let stdlib = runtime.join("lib/python3.11");
    for gone in [
        "test",
        "idlelib",
        "tkinter",
        "ensurepip",
        "lib2to3",
        "sitecustomize.py",
    ] {
        assert!(!stdlib.join(gone).exists(), "{gone} should be stripped");
    }
    // The pure-Python stdlib is sourceless .pyc files; imports come from them.
    let origin = common::run_python(
        &runtime,
        "import json, argparse; print(json.__spec__.origin, argparse.__file__)",
    );
    assert_eq!(
        origin.trim(),
        format!("{0}/json/__init__.pyc {0}/argparse.pyc", stdlib.display())
    );
    assert!(!runtime.join("lib/python311.zip").exists());
    let sources = common::files_under(&stdlib, ".py");
    assert!(sources.is_empty(), "sources left: {sources:?}");
    assert!(common::files_under(&stdlib, ".pyc").len() > 500);

    // Self-contained: the host libraries lib-dynload needs are in lib/, found through
    // $ORIGIN, and the glibc floor is what the ELF files say.
    for bundled in [
        "libz.so.1",
        "libexpat.so.1",
        "libssl.so.3",
        "libsqlite3.so.0",
        "libffi.so.8",
    ] {
        assert!(
            runtime.join("lib").join(bundled).is_file(),
            "{bundled} not bundled"
        );
    }
    assert!(
        !runtime.join("lib/libc.so.6").exists(),
        "glibc must not be bundled"
    );
    let maps = common::run_python(
        &runtime,
        "import ssl, sqlite3, ctypes, pyexpat; print(open('/proc/self/maps').read())",
    );
    for lib in [
        "libssl.so.3",
        "libsqlite3.so.0",
        "libffi.so.8",
        "libexpat.so.1",
    ] {
        let line = maps
            .lines()
            .find(|l| l.contains(lib))
            .unwrap_or_else(|| panic!("{lib} not loaded"));
        assert!(
            line.contains(runtime.to_str().unwrap()),
            "{lib} loaded from the host: {line}"
        );
    }
    let floor = layer.glibc.expect("a glibc floor");
    if let Some(expected) = common::glibc_floor_by_readelf(&runtime) {
        assert_eq!(floor.to_string(), expected);
    }
    assert!(floor.major == 2 && floor.minor >= 34, "{floor}");

    // The exec-contract hook: PYK_PATH entries go after the stdlib, empty ones are ignored.
    let out = std::process::Command::new(runtime.join("bin/python3"))
        .args(["-I", "-c", "import sys; print(sys.path[-2:])"])
        .env("PYK_PATH", "/pyk/app::/pyk/deps")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "['/pyk/app', '/pyk/deps']"
    );

    let host_paths = common::run_python(
        &runtime,
        "import sys; print([p for p in sys.path if not p.startswith(sys.prefix)])",
    );
    assert_eq!(host_paths.trim(), "[]", "no host directories on sys.path");

    // Same input, same bytes.
    let (_cache2, store2) = common::store();
    let again = import_installed(&store2, Path::new(DEBIAN), None, &common::quiet()).unwrap();
    assert_eq!(again.sha256, layer.sha256, "imports must be reproducible");

    // Importing into the same store again keeps one layer.
    let third = import_installed(&store, Path::new(DEBIAN), None, &common::quiet()).unwrap();
    assert_eq!(third.sha256, layer.sha256);
    assert_eq!(store.list().unwrap().len(), 1);
}

#[test]
fn pyenv_build_is_relocated_and_does_not_load_the_original() {
    let Some(home) = std::env::var_os("HOME") else {
        return;
    };
    let prefix = Path::new(&home).join(".pyenv/versions/3.12.1");
    let exe = prefix.join("bin/python3.12");
    if !exe.exists() {
        eprintln!("note: {} absent, skipping the pyenv test", exe.display());
        return;
    }
    let (_cache, store) = common::store();
    let layer = import_installed(&store, &exe, None, &common::quiet()).unwrap();
    assert_eq!(layer.python.to_string(), "3.12.1");
    let elsewhere = tempfile::tempdir().unwrap();
    let runtime = common::unpack(&layer, &elsewhere.path().join("rt"));
    // Stripped: pyenv's libpython3.12 is ~30 MB with its symbols and debug info.
    let libpython = std::fs::metadata(runtime.join("lib/libpython3.12.so.1.0")).unwrap();
    assert!(
        libpython.len() < 12_000_000,
        "libpython not stripped: {}",
        libpython.len()
    );
    assert!(layer.glibc.is_some());

    let code = "import sys, ssl, sqlite3; print(sys.prefix); print(open('/proc/self/maps').read())";
    let script = format!(
        "mount -t tmpfs tmpfs '{}' && '{}' -I -c \"{}\"",
        prefix.display(),
        runtime.join("bin/python3").display(),
        code
    );
    let out = Command::new("unshare")
        .args(["-m", "sh", "-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "hidden-original run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), runtime.to_str());
    let libpython: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("libpython3.12"))
        .collect();
    assert!(!libpython.is_empty(), "libpython should be mapped");
    for line in libpython {
        assert!(
            line.contains(runtime.to_str().unwrap()),
            "libpython loaded from outside the runtime: {line}"
        );
    }
}

#[test]
fn rejects_what_is_not_a_supported_cpython() {
    let (_cache, store) = common::store();
    let err = import_installed(&store, Path::new("/bin/sh"), None, &common::quiet()).unwrap_err();
    assert!(matches!(err, FetchError::NotAPython { .. }), "{err}");
    let err = import_installed(
        &store,
        Path::new("/nonexistent/python"),
        None,
        &common::quiet(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("/nonexistent/python"), "{err}");
    if let Some(home) = std::env::var_os("HOME") {
        let old = Path::new(&home).join(".pyenv/versions/3.8.18/bin/python3.8");
        if old.exists() {
            let err = import_installed(&store, &old, None, &common::quiet()).unwrap_err();
            assert!(matches!(err, FetchError::UnsupportedPython { .. }), "{err}");
            assert!(err.to_string().contains("3.8.18"), "{err}");
        }
    }
    assert!(store.list().unwrap().is_empty());
}
