//! `pyk runtime …` end to end: an adopted CPython really is relocated, and the cache
//! commands list, remove and prune what they should.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::*;

#[test]
fn adopted_debian_python_runs_with_the_original_hidden() {
    if !can_unshare() {
        eprintln!("skipped: unshare -m is not permitted here");
        return;
    }
    let dir = project(&[
        ("pyk.toml", "name = \"where\"\nrun = \"where.py\"\n"),
        (
            "where.py",
            "import sys, ssl, sqlite3, json\nprint(sys.prefix)\nprint(''.join(l for l in open('/proc/self/maps') if 'python' in l))\n",
        ),
    ]);
    let path = build(dir.path(), "where", &[]);
    let cache = tempfile::tempdir().unwrap();
    // Hide the original stdlib and interpreter behind empty mounts, then run.
    let script = format!(
        "mount -t tmpfs tmpfs /usr/lib/python3.11 && mount --bind /dev/null {SYSTEM_PYTHON} && PYK_CACHE_DIR={} {}",
        cache.path().display(),
        path.display()
    );
    let out = ok(Command::new("unshare").args(["-m", "sh", "-c", &script]));
    let mut lines = out.lines();
    let prefix = lines.next().unwrap();
    assert!(
        Path::new(prefix).starts_with(cache.path().join("runtimes-v2")),
        "{out}"
    );
    for mapped in lines.filter(|l| !l.trim().is_empty()) {
        assert!(
            mapped.contains(prefix),
            "a python file from outside the runtime is loaded: {mapped}"
        );
    }
}

#[test]
fn list_remove_and_prune() {
    // A private cache holding a copy of the shared layer, so removing it harms no one.
    let cache = tempfile::tempdir().unwrap();
    let layers = cache.path().join("layers-v2");
    fs::create_dir_all(&layers).unwrap();
    for entry in fs::read_dir(build_cache().join("layers-v2"))
        .unwrap()
        .flatten()
    {
        if entry.path().is_file() {
            fs::copy(entry.path(), layers.join(entry.file_name())).unwrap();
        }
    }
    let pyk_in = || {
        let mut cmd = pyk();
        cmd.env("PYK_CACHE_DIR", cache.path());
        cmd
    };
    // A build unpacks the runtime; list shows both the layer and the unpacked copy.
    let dir = project(&[("x.py", "print(1)\n")]);
    ok(pyk_in()
        .current_dir(dir.path())
        .args(["build", "--entry", "x.py", "--python", PY]));
    let listing = ok(pyk_in().args(["runtime", "list"]));
    assert!(
        listing.contains("Python 3.11.") && listing.contains("last used today"),
        "{listing}"
    );

    // Pruning things used today removes nothing.
    ok(pyk_in().args(["runtime", "prune", "--unused-for", "1"]));
    assert!(ok(pyk_in().args(["runtime", "list"])).contains("last used today"));

    let err = fails(pyk_in().args(["runtime", "remove", "3.9"]));
    assert!(err.contains("no cached runtime for Python 3.9"), "{err}");
    let out = ok(pyk_in().args(["runtime", "remove", PY]));
    assert!(out.contains("removed"), "{out}");
    let listing = ok(pyk_in().args(["runtime", "list"]));
    assert_eq!(listing.matches("none").count(), 2, "{listing}");
    assert!(fs::read_dir(cache.path().join("runtimes-v2"))
        .unwrap()
        .flatten()
        .all(|e| e.file_name().to_string_lossy().ends_with(".lock")));
}

#[test]
fn a_runtime_archive_is_imported_once() {
    // A python-build-standalone style archive (top directory python/) made from Debian's
    // CPython, used with `build --runtime`; the second build reuses the layer.
    let work = tempfile::tempdir().unwrap();
    let archive = common::pbs_style_archive(work.path(), "rt.tar.gz");
    let cache = tempfile::tempdir().unwrap();
    let dir = project(&[("x.py", "import sys; print(sys.version_info[:2])\n")]);
    let build = || {
        let out = run(pyk()
            .env("PYK_CACHE_DIR", cache.path())
            .env("PYK_ZSTD_LEVEL", "3")
            .current_dir(dir.path())
            .args(["build", "--entry", "x.py", "--runtime"])
            .arg(&archive));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let first = build();
    assert!(first.contains("compressing"), "{first}");
    let second = build();
    assert!(
        second.contains("using the cached layer of rt.tar.gz"),
        "{second}"
    );
    let run_cache = tempfile::tempdir().unwrap();
    assert_eq!(
        ok(&mut artifact(&dir.path().join("dist/x"), run_cache.path())),
        "(3, 11)\n"
    );
}

#[test]
fn python_build_standalone_download_from_a_configured_mirror() {
    // A mirror laid out like the GitHub releases: {release}/{asset} and {release}/SHA256SUMS.
    let mirror = tempfile::tempdir().unwrap();
    let asset = "cpython-3.11.2+20990101-x86_64-unknown-linux-gnu-install_only_stripped.tar.gz";
    let good = mirror.path().join("20990101");
    fs::create_dir_all(&good).unwrap();
    let archive = common::pbs_style_archive(&good, asset);
    let sha = ok(Command::new("sha256sum").arg(&archive));
    fs::write(
        good.join("SHA256SUMS"),
        sha.replace(&archive.display().to_string(), asset),
    )
    .unwrap();
    // A release whose SHA256SUMS lies.
    let bad = mirror.path().join("20990102");
    fs::create_dir_all(&bad).unwrap();
    let bad_asset = asset.replace("20990101", "20990102");
    fs::copy(&archive, bad.join(&bad_asset)).unwrap();
    fs::write(
        bad.join("SHA256SUMS"),
        format!("{}  {bad_asset}\n", "0".repeat(64)),
    )
    .unwrap();

    let server = common::mirror::Mirror::serve(mirror.path());

    // The mirror comes from the config file's `python_mirror`.
    let home = tempfile::tempdir().unwrap();
    fs::create_dir_all(home.path().join("pyk")).unwrap();
    fs::write(
        home.path().join("pyk/config.toml"),
        format!("python_mirror = \"{}\"\n", server.url),
    )
    .unwrap();
    let cache = tempfile::tempdir().unwrap();
    let pyk_here = |release: &str| {
        let mut cmd = pyk();
        cmd.env("PYK_CACHE_DIR", cache.path())
            .env("XDG_CONFIG_HOME", home.path())
            .env("PYK_PBS_RELEASE", release)
            .env("PYK_ZSTD_LEVEL", "3");
        cmd
    };
    let dir = project(&[("x.py", "import ssl, sys; print(sys.version_info[:3])\n")]);
    ok(pyk_here("20990101")
        .current_dir(dir.path())
        .args(["build", "--entry", "x.py", "--python", "3.11.2"]));
    let run_cache = tempfile::tempdir().unwrap();
    assert_eq!(
        ok(&mut artifact(&dir.path().join("dist/x"), run_cache.path())),
        "(3, 11, 2)\n"
    );
    let listing = ok(pyk_here("20990101").args(["runtime", "list"]));
    assert!(
        listing.contains("python-build-standalone 20990101"),
        "{listing}"
    );

    let err = fails(pyk_here("20990102").args(["-q", "runtime", "fetch", "3.11.2"]));
    drop(server);
    assert!(
        err.contains("checksum mismatch")
            && err.contains(&"0".repeat(64))
            && err.contains("/20990102/"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    // Nothing from the refused download was kept.
    let listing = ok(pyk_here("20990101").args(["runtime", "list"]));
    assert_eq!(
        listing.matches("python-build-standalone").count(),
        1,
        "{listing}"
    );
}
