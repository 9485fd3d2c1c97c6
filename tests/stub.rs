//! The launcher under stress: simultaneous first runs, kills mid-extraction, damaged
//! files, unwritable caches and full disks.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use pyk_artifact::trailer::{Role, Trailer};

fn trailer(path: &Path) -> Trailer {
    Trailer::read(&fs::File::open(path).unwrap()).unwrap()
}

/// The cache key of an artifact's runtime layer.
fn runtime_key(path: &Path) -> String {
    trailer(path).layer(Role::Runtime).unwrap().key()
}

/// Entries of the cache's runtimes bucket, sorted.
fn runtimes(cache: &Path) -> Vec<String> {
    let mut names: Vec<_> = fs::read_dir(cache.join("runtimes-v2"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn copy_of_hello(dir: &Path) -> PathBuf {
    let path = dir.join("hello");
    fs::copy(hello(), &path).unwrap();
    path
}

#[test]
fn twenty_simultaneous_first_runs_extract_once() {
    let cache = tempfile::tempdir().unwrap();
    let children: Vec<_> = (0..20)
        .map(|i| {
            artifact(hello(), cache.path())
                .arg(i.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (i, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "run {i}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).starts_with(&format!("hello {i}\n")));
    }
    let key = runtime_key(hello());
    // One runtime, its lock file, and no work directory left behind.
    assert_eq!(runtimes(cache.path()), [key.clone(), format!("{key}.lock")]);
}

#[test]
fn a_run_killed_mid_extraction_leaves_nothing_trusted() {
    let cache = tempfile::tempdir().unwrap();
    let key = runtime_key(hello());
    let mut child = artifact(hello(), cache.path())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the work directory exists, then kill -9.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !runtimes(cache.path()).iter().any(|n| n.ends_with(".tmp")) {
        assert!(Instant::now() < deadline, "no work directory appeared");
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !cache.path().join("runtimes-v2").join(&key).exists(),
        "a killed extraction left a runtime in place"
    );
    // The next run extracts afresh and clears the debris.
    assert!(ok(&mut artifact(hello(), cache.path())).starts_with("hello\n"));
    assert_eq!(runtimes(cache.path()), [key.clone(), format!("{key}.lock")]);
}

#[test]
fn truncated_artifacts_fail_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let bytes = fs::read(hello()).unwrap();
    // (A cut inside the stub itself leaves an ELF the kernel can't load: no program can
    // report that, so the cuts start after it.)
    let stub_end = trailer(hello()).launcher_len() as usize;
    for cut in [bytes.len() - 10, bytes.len() / 2, stub_end + 1000] {
        let path = dir.path().join(format!("cut{cut}"));
        fs::write(&path, &bytes[..cut]).unwrap();
        fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let out = run(&mut artifact(&path, cache.path()));
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("not a pyk artifact") || err.contains("damaged"),
            "{err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    assert!(runtimes(cache.path()).is_empty());
}

#[test]
fn a_corrupted_runtime_layer_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let path = copy_of_hello(dir.path());
    let t = trailer(&path);
    let mut bytes = fs::read(&path).unwrap();
    let span = t.layer(Role::Runtime).unwrap().span;
    let mid = (span.offset + span.len / 2) as usize;
    bytes[mid] ^= 0x55;
    fs::write(&path, &bytes).unwrap();
    let err = fails(&mut artifact(&path, cache.path()));
    assert!(err.contains("corrupt runtime layer"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    // Nothing trusted was left: only the lock file.
    assert_eq!(
        runtimes(cache.path()),
        [format!("{}.lock", runtime_key(&path))]
    );
}

#[test]
fn an_unusable_cache_dir_falls_back_to_a_private_temp_dir() {
    // /dev/null/x can never be created, even by root.
    let out = ok(Command::new(hello())
        .env("PYK_CACHE_DIR", "/dev/null/pyk")
        .env("TMPDIR", tempfile::tempdir().unwrap().path())
        .arg("tmp"));
    assert!(out.starts_with("hello tmp\n"), "{out}");
}

#[test]
fn a_full_disk_is_one_clear_error_and_leaves_nothing() {
    if !run(Command::new("unshare").args(["-m", "true"]))
        .status
        .success()
    {
        eprintln!("skipped: unshare -m is not permitted here");
        return;
    }
    let mnt = tempfile::tempdir().unwrap();
    let script = format!(
        "mount -t tmpfs -o size=2m tmpfs {m} && PYK_CACHE_DIR={m}/cache {a}; code=$?; ls -A {m}/cache/runtimes-v2; exit $code",
        m = mnt.path().display(),
        a = hello().display()
    );
    let out = run(Command::new("unshare").args(["-m", "sh", "-c", &script]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("No space left on device"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    // `ls` shows what remains: only the lock file.
    let left = String::from_utf8_lossy(&out.stdout);
    assert_eq!(left.trim(), format!("{}.lock", runtime_key(hello())));
}

#[test]
fn not_an_artifact() {
    // The stub alone, with no trailer, says so.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bare");
    let bytes = fs::read(hello()).unwrap();
    fs::write(&path, &bytes[..trailer(hello()).launcher_len() as usize]).unwrap();
    fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let err = fails(&mut artifact(&path, dir.path()));
    assert!(
        err.starts_with("bare: ") && err.contains("not a pyk artifact"),
        "{err}"
    );
}

#[test]
fn a_glibc_floor_above_this_machine_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hello");
    let mut bytes = fs::read(hello()).unwrap();
    let floor = trailer(hello())
        .glibc
        .expect("the runtime records a glibc floor");
    // Rewrite the trailer's glibc line with one of the same length (the trailer carries no
    // hash of itself), as an artifact built on a newer system would have.
    let old = format!("\nglibc {}.{}\n", floor.0, floor.1);
    let new = format!("\nglibc 9.{}\n", "9".repeat(old.len() - 10));
    let at = bytes
        .windows(old.len())
        .rposition(|w| w == old.as_bytes())
        .unwrap();
    bytes[at..at + old.len()].copy_from_slice(new.as_bytes());
    fs::write(&path, &bytes).unwrap();
    fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let err = fails(&mut artifact(&path, cache.path()));
    let have = String::from_utf8(run(Command::new("ldd").arg("--version")).stdout).unwrap();
    let have = have
        .lines()
        .next()
        .unwrap()
        .rsplit(' ')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(
        err.trim(),
        format!(
            "hello: needs glibc ≥ {}; this machine has {have}",
            new.trim().trim_start_matches("glibc ")
        )
    );
    // Nothing was unpacked for a program that cannot run here.
    assert!(runtimes(cache.path()).is_empty());
}

#[test]
fn a_cache_on_a_noexec_mount_is_one_clear_line_before_anything_is_unpacked() {
    if !can_unshare() {
        return;
    }
    let mnt = tempfile::tempdir().unwrap();
    let script = format!(
        "mount -t tmpfs -o noexec tmpfs {m} && PYK_CACHE_DIR={m}/cache {a}; code=$?; ls -A {m}/cache; exit $code",
        m = mnt.path().display(),
        a = hello().display()
    );
    let out = run(Command::new("unshare").args(["-m", "sh", "-c", &script]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "is on {}, which is mounted noexec",
            mnt.path().display()
        )) && stderr.contains("PYK_CACHE_DIR"),
        "{stderr}"
    );
    // Only the root's tag was written: no bucket, no lock, no work directory.
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "CACHEDIR.TAG");
}

#[test]
fn a_relative_cache_dir_is_taken_against_the_current_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out = ok(Command::new(hello())
        .current_dir(dir.path())
        .env("PYK_CACHE_DIR", "rel/cache")
        .arg("rel"));
    assert!(out.starts_with("hello rel\n"), "{out}");
    assert!(dir
        .path()
        .join("rel/cache/runtimes-v2")
        .join(runtime_key(hello()))
        .is_dir());
}

#[test]
fn a_squatted_temp_fallback_falls_to_var_tmp_then_says_what_to_set() {
    if !can_unshare() {
        return;
    }
    // A /var/tmp of the test's own, and a TMPDIR where another user made pyk-0 first;
    // `env -i` leaves the launcher no HOME and no cache variable.
    let tmp = tempfile::tempdir().unwrap();
    let script = format!(
        "mount -t tmpfs tmpfs /var/tmp && mkdir -m 0700 {t}/pyk-0 && chown 65534 {t}/pyk-0 \
         && env -i TMPDIR={t} {a} squat && ls /var/tmp/pyk-0/runtimes-v2 >&2 \
         && rm -rf /var/tmp/pyk-0 && mkdir -m 0700 /var/tmp/pyk-0 && chown 65534 /var/tmp/pyk-0 \
         && env -i TMPDIR={t} {a} squat",
        t = tmp.path().display(),
        a = hello().display()
    );
    let out = run(Command::new("unshare").args(["-m", "sh", "-c", &script]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The first run ran from /var/tmp/pyk-0…
    assert!(stdout.starts_with("hello squat\n"), "{stdout}\n{stderr}");
    assert!(stderr.contains(&runtime_key(hello())), "{stderr}");
    // …the second, with both squatted, says so in one line, and what to set.
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let last = stderr.trim().lines().last().unwrap();
    assert!(
        last.contains(&format!(
            "refusing cache directory {}/pyk-0: owned by another user",
            tmp.path().display()
        )) && last.contains("set PYK_CACHE_DIR"),
        "{stderr}"
    );
}

/// The launcher runs on any x86_64 Linux with glibc ≥ 2.17 (manylinux2014): the highest
/// `GLIBC_` symbol version it needs, read from its ELF file as auditwheel reads wheels.
#[test]
fn the_launcher_needs_glibc_2_17_at_most() {
    let bytes = fs::read(hello()).unwrap();
    let launcher = &bytes[..trailer(hello()).launcher_len() as usize];
    let needed = pyk_runtime_fetch::glibc_needed(launcher)
        .unwrap()
        .expect("the launcher links glibc");
    assert!(
        needed <= "2.17".parse().unwrap(),
        "the launcher needs glibc {needed}: was pyk built without cargo-zigbuild on PATH? \
         (scripts/setup.sh installs it)"
    );
}
