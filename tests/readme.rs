//! The README's getting-started commands, run in order on a fresh home directory with the
//! `pyk` under test first on PATH: what `scripts/readme-journey.sh` extracts, so that
//! the README and this test cannot drift apart. The one change made to them: the
//! repository's port 7777 becomes a free one, so that runs beside other servers do not
//! collide.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

#[test]
fn the_readme_getting_started_runs_as_written() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let journey = ok(&mut Command::new(root.join("scripts/readme-journey.sh")));
    assert!(journey.contains("pyk publish"), "{journey}");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let script = format!(
        "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n{}",
        journey.replace("127.0.0.1:7777", &format!("127.0.0.1:{port}"))
    );
    let home = tempfile::tempdir().unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_pyk")).parent().unwrap();
    let out = run(Command::new("bash")
        .arg("-c")
        .arg(&script)
        .env_clear()
        .env("HOME", home.path())
        .env(
            "PATH",
            format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display()),
        )
        .env("TMPDIR", home.path())
        .current_dir(home.path()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(stdout.matches("hello, world").count(), 2, "{stdout}");
    assert!(stdout.contains("hello, there"), "{stdout}");
    // Quiet when all is well: no warning on the way but the server's, that one key opens
    // reads and writes (the journey's choice, which the README says).
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("warning") && !l.contains("opens reads and writes"))
        .collect();
    assert!(warnings.is_empty(), "{stderr}");
}
