//! Locked builds: `pyk lock` writes `pylock.toml`, a build installs exactly what it says
//! (real packages from PyPI, pinned), `--locked` names the drift when the spec changes, and
//! a lock with a wrong hash fails in one line. Then two builds of one locked project, as on
//! two machines, give the same bytes.

mod common;

use std::fs;
use std::path::Path;

use common::*;

const MAIN: &str = "import six, click\nprint(six.__version__, click.__version__)\n";

fn spec(six: &str) -> String {
    format!(
        "name = \"locked\"\nrun = \"main.py\"\ndependencies = [\"six{six}\", \"click>=8,<8.2\"]\n"
    )
}

fn pylock(dir: &Path) -> toml::Table {
    toml::from_str(&fs::read_to_string(dir.join("pylock.toml")).unwrap()).unwrap()
}

/// `(name, version, wheel sha256)` of each package of a lock.
fn packages(lock: &toml::Table) -> Vec<(String, String, String)> {
    lock["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let wheel = &p["wheels"].as_array().unwrap()[0];
            assert!(wheel["url"].as_str().unwrap().starts_with("https://"));
            (
                p["name"].as_str().unwrap().to_owned(),
                p["version"].as_str().unwrap().to_owned(),
                wheel["hashes"]["sha256"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// One line of error on stderr, whatever progress lines (indented) came before it.
fn assert_one_error(stderr: &str) {
    let said: Vec<&str> = stderr.lines().filter(|l| !l.starts_with("  ")).collect();
    assert!(
        said.len() == 1 && said[0].starts_with("pyk: error: "),
        "{stderr}"
    );
}

#[test]
fn lock_then_build_locked_installs_the_locked_versions_and_names_drift() {
    let dir = project(&[("pyk.toml", &spec("==1.16.0")), ("main.py", MAIN)]);
    let d = dir.path();
    let err = fails(
        pyk()
            .current_dir(d)
            .args(["build", "--locked", "--python", PY]),
    );
    assert!(
        err.contains("pyk lock") && err.trim().lines().count() == 1,
        "{err}"
    );

    ok(pyk().current_dir(d).args(["lock", "--python", PY]));
    let lock = pylock(d);
    let pins = packages(&lock);
    let versions: Vec<(&str, &str)> = pins
        .iter()
        .map(|(n, v, _)| (n.as_str(), v.as_str()))
        .collect();
    assert_eq!(versions, [("click", "8.1.8"), ("six", "1.16.0")]);

    let file = build(d, "locked", &["--locked"]);
    let cache = tempfile::tempdir().unwrap();
    assert_eq!(ok(&mut artifact(&file, cache.path())), "1.16.0 8.1.8\n");
    // What the artifact records having installed is what the lock said, hash for hash.
    let inspected = ok(pyk().arg("inspect").arg(&file));
    for (name, version, sha) in &pins {
        assert!(
            inspected.lines().any(|l| l.contains(name.as_str())
                && l.contains(version.as_str())
                && l.contains(sha.as_str())),
            "{name} {version} {sha} not recorded:\n{inspected}"
        );
    }

    // The spec moves on: --locked refuses, naming the requirement and what the lock has.
    fs::write(d.join("pyk.toml"), spec("==1.17.0")).unwrap();
    let err = fails(
        pyk()
            .current_dir(d)
            .args(["build", "--locked", "--python", PY]),
    );
    assert_one_error(&err);
    assert!(
        err.contains("`six==1.17.0` is in the spec, pylock.toml has six 1.16.0"),
        "{err}"
    );
    // Without --locked the lock is still what is installed, with a warning.
    let out = run(pyk().current_dir(d).args(["build", "--python", PY]));
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning") && stderr.contains("pyk lock"),
        "{stderr}"
    );
    assert_eq!(ok(&mut artifact(&file, cache.path())), "1.16.0 8.1.8\n");

    // A wrong hash in the lock: refused in one line naming the package.
    fs::write(d.join("pyk.toml"), spec("==1.16.0")).unwrap();
    let six_sha = &pins[1].2;
    let text = fs::read_to_string(d.join("pylock.toml")).unwrap();
    let wrong = format!("{}{}", "0".repeat(8), &six_sha[8..]);
    fs::write(
        d.join("pylock.toml"),
        text.replace(six_sha.as_str(), &wrong),
    )
    .unwrap();
    let err = fails(
        pyk()
            .current_dir(d)
            .args(["build", "--locked", "--python", PY]),
    );
    assert_one_error(&err);
    assert!(
        err.contains("Hash mismatch") && err.contains("six") && err.contains(&wrong),
        "{err}"
    );
}

/// What may differ between two machines that build one locked project: the second build
/// runs with a cache of its own (the runtime imported anew from the same CPython, the same
/// bytes), its own home, uv cache and temp directory, another umask, time zone and
/// locale, and the project deeper in another directory. Only `SOURCE_DATE_EPOCH` (set by
/// [`pyk`]) and the lock are shared.
#[test]
fn two_locked_builds_as_on_two_machines_are_byte_identical() {
    let first = project(&[("pyk.toml", &spec("==1.16.0")), ("main.py", MAIN)]);
    ok(pyk()
        .current_dir(first.path())
        .args(["lock", "--python", PY]));
    let a = build(first.path(), "locked", &["--locked"]);

    let machine = tempfile::tempdir().unwrap();
    let at = |p: &str| machine.path().join(p);
    let second = at("home/someone/src/a/project");
    fs::create_dir_all(&second).unwrap();
    for file in ["pyk.toml", "main.py", "pylock.toml"] {
        fs::copy(first.path().join(file), second.join(file)).unwrap();
    }
    for dir in ["home/someone", "tmp"] {
        fs::create_dir_all(at(dir)).unwrap();
    }
    let elsewhere = |args: &[&str]| {
        let mut cmd = std::process::Command::new("sh");
        cmd.args([
            "-c",
            "umask 027; exec \"$@\"",
            "sh",
            env!("CARGO_BIN_EXE_pyk"),
        ])
        .args(args)
        .current_dir(&second)
        .env("SOURCE_DATE_EPOCH", SOURCE_DATE_EPOCH)
        .env("PYK_ZSTD_LEVEL", "3")
        .env("PYK_CACHE_DIR", at("cache"))
        .env("HOME", at("home/someone"))
        .env("XDG_CACHE_HOME", at("home/someone/.cache"))
        .env("UV_CACHE_DIR", at("home/someone/.cache/uv"))
        .env("TMPDIR", at("tmp"))
        .env("TZ", "Pacific/Auckland")
        .env("LANG", "de_DE.UTF-8")
        .env_remove("PYK_PYTHON");
        cmd
    };
    // Imported as `build_cache` imports it (runtime layers at pyk's default level).
    ok(elsewhere(&["runtime", "import", SYSTEM_PYTHON]).env_remove("PYK_ZSTD_LEVEL"));
    ok(&mut elsewhere(&["build", "--python", PY, "--locked"]));
    let (a, b) = (
        fs::read(a).unwrap(),
        fs::read(second.join("dist/locked")).unwrap(),
    );
    assert!(
        a == b,
        "two builds differ ({} and {} bytes)",
        a.len(),
        b.len()
    );
}
