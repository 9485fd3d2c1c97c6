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
