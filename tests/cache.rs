//! `pyk cache`: both roots listed, sized, pruned and cleaned, and entries a running
//! program holds are kept.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;

/// `pyk cache …` against a cache root (and a TMPDIR for the fallback root).
fn cache_cmd(root: &Path, tmp: &Path, args: &[&str]) -> String {
    ok(Command::new(env!("CARGO_BIN_EXE_pyk"))
        .env("PYK_CACHE_DIR", root)
        .env("TMPDIR", tmp)
        .arg("cache")
        .args(args))
}

/// An app that prints a line, then waits for its stdin to close.
fn waiter() -> &'static Path {
    static APP: std::sync::OnceLock<(tempfile::TempDir, std::path::PathBuf)> =
        std::sync::OnceLock::new();
    let (_, path) = APP.get_or_init(|| {
        let dir = project(&[
            ("pyk.toml", "name = \"waiter\"\nrun = \"waiter.py\"\n"),
            (
                "waiter.py",
                "import sys\nprint('up', flush=True)\nsys.stdin.read()\n",
            ),
        ]);
        let path = build(dir.path(), "waiter", &[]);
        (dir, path)
    });
    path
}

#[test]
fn clean_keeps_what_a_running_program_holds() {
    let root = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    ok(&mut artifact(hello(), root.path()));
    let mut running = artifact(waiter(), root.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(running.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "up\n");

    let listing = cache_cmd(root.path(), tmp.path(), &["list"]);
    assert!(
        listing.contains("runtimes-v2") && listing.contains("apps-v1"),
        "{listing}"
    );
    assert_eq!(listing.matches(", in use").count(), 2, "{listing}");
    assert!(cache_cmd(root.path(), tmp.path(), &["size"]).contains("total"));

    // hello's app layer goes; the runtime and the waiter's app layer are in use.
    let said = cache_cmd(root.path(), tmp.path(), &["clean"]);
    assert!(
        said.contains("removed 1 entry") && said.contains("kept 2 in use"),
        "{said}"
    );
    let listing = cache_cmd(root.path(), tmp.path(), &["list"]);
    assert_eq!(listing.lines().count(), 3, "{listing}");

    running.stdin.take().unwrap().write_all(b"").unwrap();
    assert!(running.wait().unwrap().success());
    let said = cache_cmd(root.path(), tmp.path(), &["clean"]);
    assert!(said.contains("removed 2 entries"), "{said}");
    assert_eq!(
        cache_cmd(root.path(), tmp.path(), &["list"])
            .lines()
            .count(),
        1
    );
    // And the program still runs, unpacking again.
    assert!(ok(&mut artifact(hello(), root.path())).starts_with("hello\n"));
}

#[test]
fn prune_by_age_and_size_and_the_fallback_root_too() {
    let tmp = tempfile::tempdir().unwrap();
    // An unusable main root: the launcher falls back to $TMPDIR/pyk-<uid>…
    let unusable = Path::new("/dev/null/pyk");
    ok(Command::new(hello())
        .env("PYK_CACHE_DIR", unusable)
        .env("TMPDIR", tmp.path()));
    // …and `pyk cache` sees it.
    let listing = cache_cmd(unusable, tmp.path(), &["list"]);
    assert!(
        listing.contains("pyk-") && listing.contains("runtimes-v2"),
        "{listing}"
    );

    // Used today: an age bound keeps everything.
    let said = cache_cmd(unusable, tmp.path(), &["prune", "--older-than", "1d"]);
    assert!(said.contains("removed 0 entries"), "{said}");
    // Last used 40 days ago (access times of the entries and what runs read in them).
    let fallback = std::fs::read_dir(tmp.path())
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("pyk-"))
        .unwrap()
        .path();
    ok(Command::new("sh").arg("-c").arg(format!(
        "find {} -mindepth 2 -maxdepth 4 -exec touch -a -h -d '40 days ago' {{}} +",
        fallback.display()
    )));
    let said = cache_cmd(unusable, tmp.path(), &["prune", "--older-than", "30d"]);
    assert!(said.contains("removed 2 entries"), "{said}");

    // A size bound takes the least recently used first.
    let root = tempfile::tempdir().unwrap();
    ok(&mut artifact(hello(), root.path()));
    let said = cache_cmd(root.path(), tmp.path(), &["prune", "--max-size", "1KiB"]);
    assert!(said.contains("removed 2 entries"), "{said}");
    let err = fails(
        Command::new(env!("CARGO_BIN_EXE_pyk"))
            .env("PYK_CACHE_DIR", root.path())
            .args(["cache", "prune", "--older-than", "soon"]),
    );
    assert!(err.contains("--older-than \"soon\""), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn a_seeded_shared_cache_serves_first_runs_that_write_nothing() {
    if !can_unshare() {
        return;
    }
    let (_dir, server) = repo::server();
    repo::publish(&server, repo::app("seeded").path());
    let lib = project(&[
        ("pyk.toml", "name = \"shlib\"\nlib = \"shlib\"\n"),
        ("shlib/__init__.py", "VALUE = 'from the shared cache'\n"),
    ]);
    repo::publish(&server, lib.path());
    let user = repo::Client::new(&server);
    ok(user.pyk().args(["python-setup", "--python", SYSTEM_PYTHON]));

    // The administrator seeds it: a program and a library through the repository, and
    // an artifact file.
    let admin = repo::Client::new(&server);
    let shared = tempfile::tempdir().unwrap();
    let shared = shared.path().join("pyk");
    let seed = |args: &[&str]| {
        let mut cmd = admin.pyk();
        cmd.args(["cache", "seed"]).arg(&shared).args(args);
        run(&mut cmd)
    };
    for args in [
        &["app"][..],
        &["--lib", "shlib"],
        &[hello().to_str().unwrap()],
    ] {
        let out = seed(args);
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && said.contains("seeded"),
            "{said}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&shared).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o755);

    // The user's first runs: with no cache that can be made (A, the shared cache named by
    // PYK_SHARED_CACHE), then with a read-only one (B, named by the config file), with no
    // private fallback either (/var/tmp read-only, TMPDIR unusable). A write anywhere
    // would fail.
    let config = user.home.path().join("config/pyk");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("config.toml"),
        format!("shared_cache = {:?}\n", shared.display().to_string()),
    )
    .unwrap();
    let own = user.home.path().join("own-cache");
    std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), 0o700)
        .create(&own)
        .unwrap();
    let script = format!(
        r#"set -e
mount -t tmpfs -o ro tmpfs /var/tmp
runs() {{
  {pyk} app one
  {hello} two
  {py} -c 'from pyk import shlib; print(shlib.VALUE)'
}}
PYK_CACHE_DIR=/dev/null/pyk TMPDIR=/dev/null PYK_SHARED_CACHE={s} runs
mount --bind {own} {own} && mount -o remount,ro,bind {own}
PYK_CACHE_DIR={own} TMPDIR=/dev/null runs
ls -A {own}
"#,
        pyk = env!("CARGO_BIN_EXE_pyk"),
        s = shared.display(),
        hello = hello().display(),
        py = SYSTEM_PYTHON,
        own = own.display(),
    );
    let mut cmd = Command::new("unshare");
    user.env(&mut cmd);
    let out = ok(cmd.args(["-m", "sh", "-c", &script]));
    let expected = format!(
        "seeded app 1 one\nhello two\nargv0 {}\nfrom the shared cache\n",
        hello().display()
    );
    assert_eq!(
        out,
        format!("{expected}{expected}"),
        "the user's cache was not left empty"
    );
}

#[test]
fn pyk_refuses_a_noexec_cache_in_one_line_before_unpacking() {
    if !can_unshare() {
        return;
    }
    let (_dir, server) = repo::server();
    repo::publish(&server, repo::app("v1").path());
    let user = repo::Client::new(&server);
    let mnt = tempfile::tempdir().unwrap();
    let script = format!(
        "mount -t tmpfs -o noexec tmpfs {m} && PYK_CACHE_DIR={m}/cache {pyk} app; code=$?; ls -A {m}/cache; exit $code",
        m = mnt.path().display(),
        pyk = env!("CARGO_BIN_EXE_pyk"),
    );
    let mut cmd = Command::new("unshare");
    user.env(&mut cmd);
    let out = run(cmd.args(["-m", "sh", "-c", &script]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("pyk: error: ")
            && stderr.contains(&format!(
                "is on {}, which is mounted noexec",
                mnt.path().display()
            ))
            && stderr.contains("PYK_CACHE_DIR"),
        "{stderr}"
    );
    // The signature was checked and the layer table kept; no layer was unpacked.
    let left = String::from_utf8_lossy(&out.stdout);
    let left: Vec<_> = left.lines().collect();
    assert_eq!(left, ["CACHEDIR.TAG", "blobs-v1", "trust-v1"], "{left:?}");
}

#[test]
fn pyk_takes_a_relative_cache_dir_against_the_current_directory() {
    let (_dir, server) = repo::server();
    repo::publish(&server, repo::app("rel").path());
    let user = repo::Client::new(&server);
    let work = tempfile::tempdir().unwrap();
    let out = ok(user
        .pyk()
        .current_dir(work.path())
        .env("PYK_CACHE_DIR", "rel/cache")
        .args(["app", "x"]));
    assert_eq!(out, "rel app 1 x\n");
    assert!(work.path().join("rel/cache/apps-v1").is_dir());
}
