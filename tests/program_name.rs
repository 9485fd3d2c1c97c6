//! A packed program goes by its own name: `pgrep -x NAME` and `/proc/PID/comm` find it
//! while it runs (not `python3`), and click, packed from a package directory, calls it by
//! that name in `--help` (not `python -m package.package`).

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

#[test]
fn a_running_program_is_found_by_its_name() {
    let dir = project(&[
        (
            "pyk.toml",
            "name = \"sleepy-counter\"\nrun = \"sleepy.py\"\n",
        ),
        (
            "sleepy.py",
            "import sys, time\nprint('up', flush=True)\nsys.stdin.read()\n",
        ),
    ]);
    let path = build(dir.path(), "sleepy-counter", &[]);
    let cache = tempfile::tempdir().unwrap();
    let mut child = artifact(&path, cache.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line, "up\n");
    let pid = child.id().to_string();
    // The kernel keeps 15 bytes of it.
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    assert_eq!(comm, "sleepy-counter\n");
    let found = match Command::new("pgrep")
        .args(["-x", "sleepy-counter"])
        .output()
    {
        Ok(out) => Some(String::from_utf8_lossy(&out.stdout).into_owned()),
        Err(_) => {
            eprintln!("pgrep check skipped: no pgrep on PATH");
            None
        }
    };
    drop(child.stdin.take());
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    if let Some(found) = found {
        assert!(
            found.lines().any(|l| l == pid),
            "pgrep -x: {found:?}, pid {pid}"
        );
    }
}

#[test]
fn click_help_from_a_package_directory_shows_the_program_name() {
    let dir = project(&[
        (
            "pyk.toml",
            "name = \"counter\"\nrun = \"counter\"\ndependencies = [\"click>=8\"]\n",
        ),
        ("counter/__init__.py", "START = 1\n"),
        (
            "counter/__main__.py",
            "from .counter import main\nmain()\n",
        ),
        (
            "counter/counter.py",
            "import click\nfrom . import START\n\n@click.command()\n@click.option('--n', default=START, help='How far.')\ndef main(n):\n    \"\"\"Count.\"\"\"\n    print(*range(n))\n",
        ),
    ]);
    let path = build(dir.path(), "counter", &[]);
    let cache = tempfile::tempdir().unwrap();
    let help = ok(artifact(&path, cache.path()).arg("--help"));
    assert!(help.starts_with("Usage: counter [OPTIONS]"), "{help}");
    let out = ok(artifact(&path, cache.path()).args(["--n", "3"]));
    assert_eq!(out, "0 1 2\n");
}
