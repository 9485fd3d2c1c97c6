//! The release build (`scripts/release.sh`, which `scripts/setup.sh` runs into
//! `/opt/pyk-tests/release`): a `pyk` binary and a `bin` wheel for any x86_64 Linux with glibc ≥ 2.17,
//! and the same for aarch64 where the cross toolchain was at hand.
//! Without that build (or with one from another commit) these tests skip, saying so.

mod common;

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use common::*;

/// The file in the release build whose name starts with `prefix` and ends with `suffix`
/// (the wheel's version is the package's).
fn release_file(prefix: &str, suffix: &str) -> Option<PathBuf> {
    let found = fs::read_dir(release_build()?)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with(prefix) && name.ends_with(suffix)
        });
    Some(found.unwrap_or_else(|| panic!("{RELEASE} has pyk but no {prefix}*{suffix}")))
}

#[test]
fn the_release_pyk_needs_glibc_2_17_at_most() {
    let Some(release) = release_build() else {
        return;
    };
    let pyk = release.join("pyk");
    let needed = pyk_runtime_fetch::glibc_needed(&fs::read(&pyk).unwrap())
        .unwrap()
        .expect("pyk links glibc");
    assert!(
        needed <= "2.17".parse().unwrap(),
        "{} needs glibc {needed}",
        pyk.display()
    );
    let version = ok(Command::new(&pyk).arg("--version"));
    assert!(
        version.contains(&format!("runs on glibc ≥ {needed};")),
        "{version}"
    );
}

/// `pip install` of the wheel into a fresh venv gives a `pyk` that builds a program.
#[test]
fn the_wheel_installs_into_a_fresh_venv_and_builds() {
    let Some(wheel) = release_file("pyk-", "x86_64.whl") else {
        return;
    };
    let name = wheel.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.ends_with("-py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"),
        "{name}"
    );
    let dir = tempfile::tempdir().unwrap();
    let venv = dir.path().join("venv");
    ok(Command::new("python3").arg("-m").arg("venv").arg(&venv));
    ok(Command::new(venv.join("bin/pip"))
        .args([
            "install",
            "--quiet",
            "--no-index",
            "--disable-pip-version-check",
        ])
        .arg(&wheel));
    let installed = venv.join("bin/pyk");
    let version = ok(Command::new(&installed).arg("--version"));
    let this = ok(pyk().arg("--version"));
    assert_eq!(version.lines().next(), this.lines().next());
    let app = project(&[
        ("pyk.toml", "name = \"hello\"\nrun = \"hello.py\"\n"),
        ("hello.py", HELLO),
    ]);
    ok(Command::new(&installed)
        .env("PYK_CACHE_DIR", build_cache())
        .env("PYK_ZSTD_LEVEL", "3")
        .current_dir(app.path())
        .args(["-q", "build", "--python", PY]));
    let cache = tempfile::tempdir().unwrap();
    let out = ok(artifact(&app.path().join("dist/hello"), cache.path()).arg("wheel"));
    assert!(out.starts_with("hello wheel\n"), "{out}");
}

/// The aarch64 pyk, where release.sh could cross-build it: an aarch64 binary for glibc 2.17
/// that carries both launchers (it builds for x86_64 too), and its manylinux2014 wheel.
#[test]
fn the_aarch64_release_needs_glibc_2_17_and_carries_both_launchers() {
    let Some(release) = release_build() else {
        return;
    };
    let pyk = release.join("pyk-linux-aarch64");
    if !pyk.is_file() {
        eprintln!(
            "skipped: no {} (release.sh had no aarch64 Rust standard library)",
            pyk.display()
        );
        return;
    }
    let bytes = fs::read(&pyk).unwrap();
    assert_eq!(
        u16::from_le_bytes([bytes[18], bytes[19]]),
        0xb7,
        "not aarch64"
    );
    let needed = pyk_runtime_fetch::glibc_needed(&bytes)
        .unwrap()
        .expect("pyk links glibc");
    assert!(
        needed <= "2.17".parse().unwrap(),
        "{} needs glibc {needed}",
        pyk.display()
    );
    // Both launchers are in it: an ELF file of each machine after pyk's own header.
    let magic = b"\x7fELF\x02\x01\x01";
    let machines: Vec<u16> = (1..bytes.len() - 20)
        .filter(|&i| &bytes[i..i + magic.len()] == magic)
        .map(|i| u16::from_le_bytes([bytes[i + 18], bytes[i + 19]]))
        .collect();
    for (machine, name) in [(0xb7u16, "aarch64"), (0x3e, "x86_64")] {
        assert!(
            machines.contains(&machine),
            "no {name} launcher inside: {machines:x?}"
        );
    }
    let wheel = release_file("pyk-", "aarch64.whl").unwrap();
    let name = wheel.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.ends_with("-py3-none-manylinux2014_aarch64.manylinux_2_17_aarch64.whl"),
        "{name}"
    );
}
