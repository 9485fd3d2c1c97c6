//! What a newcomer tripped over, end to end with real `pyk serve` processes: listings
//! piped into `head`, `serve` and the shared config, a pyproject version, guarded
//! removal, a read-only key found out before the build, and names that are also
//! directories.

mod common;

use std::fs;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::repo::*;
use common::*;

/// `pyk ARGS | true` through a shell: the reader is gone before pyk writes.
fn piped(client: &Client, args: &str) {
    let mut cmd = Command::new("bash");
    client.env(&mut cmd);
    let out = run(cmd.arg("-c").arg(format!(
        "{} {args} | true; echo ${{PIPESTATUS[0]}}",
        env!("CARGO_BIN_EXE_pyk")
    )));
    let err = String::from_utf8_lossy(&out.stderr);
    let status = String::from_utf8_lossy(&out.stdout);
    assert!(!err.contains("panicked") && err.is_empty(), "{args}: {err}");
    // 141: ended by SIGPIPE, as `ls | true` is; 0 when everything fit the pipe first.
    assert!(matches!(status.trim(), "0" | "141"), "{args}: {status}");
}

#[test]
fn listings_end_quietly_when_the_reader_goes_away() {
    let (_dir, server) = server();
    publish(&server, app("v1").path());
    let client = Client::new(&server);
    ok(client.pyk().arg("app"));
    let artifact = client.home.path().join("app.bin");
    ok(client.pyk().args(["pull", "app", "-o"]).arg(&artifact));
    for args in [
        "cache list".to_owned(),
        "runtime list".to_owned(),
        format!("inspect {}", artifact.display()),
        "versions app".to_owned(),
    ] {
        piped(&client, &args);
    }
}

#[test]
fn serve_listens_on_the_port_of_the_configs_server() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("config.toml");
    fs::write(
        &config,
        format!("key = \"k\"\nserver = \"http://127.0.0.1:{port}\"\n"),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pyk"))
        .arg("serve")
        .arg(home.path().join("store"))
        .env("HOME", home.path())
        .env("PYK_CONFIG", &config)
        .env_remove("PYK_KEY")
        .env_remove("PYK_SERVER")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines: Vec<String> = BufReader::new(child.stderr.take().unwrap())
        .lines()
        .take(3)
        .map(Result::unwrap)
        .collect();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        lines[0].ends_with(&format!("on http://127.0.0.1:{port}")),
        "{lines:?}"
    );
    assert!(lines[2].contains("only this machine"), "{lines:?}");
}

#[test]
fn a_missing_pyk_config_is_an_error() {
    let (_dir, server) = server();
    let client = Client::new(&server);
    let err = fails(
        client
            .pyk()
            .env("PYK_CONFIG", client.home.path().join("nope.toml"))
            .arg("list"),
    );
    assert!(
        err.contains("PYK_CONFIG names") && err.contains("nope.toml"),
        "{err}"
    );
}

#[test]
fn a_pyproject_version_is_published_as_written() {
    let (_dir, server) = server();
    let source = project(&[
        (
            "pyproject.toml",
            "[project]\nname = \"app\"\nversion = \"0.1.0\"\n\n[tool.pyk]\nrun = \"app.py\"\n",
        ),
        ("app.py", "print('hi')\n"),
    ]);
    publish(&server, source.path());
    let client = Client::new(&server);
    let versions = ok(client.pyk().args(["versions", "app"]));
    assert!(versions.contains("0.1.0"), "{versions}");
    // Again: the advice names where the version is written.
    let publisher = Client::new(&server);
    let err = fails(
        publisher
            .pyk()
            .env("PYK_CACHE_DIR", build_cache())
            .current_dir(source.path())
            .args(["publish", "--python", PY]),
    );
    assert!(
        err.contains("bump `version` in pyproject.toml's [project]"),
        "{err}"
    );
}

#[test]
fn removing_a_whole_package_needs_a_terminal_or_yes() {
    let (_dir, server) = server();
    publish(&server, app("v1").path());
    let client = Client::new(&server);
    let err = fails(client.pyk().args(["remove", "app"]).stdin(Stdio::null()));
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("--yes"), "{err}");
    assert_eq!(ok(client.pyk().arg("app")), "v1 app 1\n");
    ok(client.pyk().args(["remove", "app", "--yes"]));
    assert!(fails(client.pyk().args(["versions", "app"])).contains("no package"));
}

#[test]
fn a_read_only_key_fails_before_the_build() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with_keys(&dir.path().join("pyk.db"), 0, KEY, Some("write"));
    let reader = Client::new(&server);
    let out = run(reader
        .pyk()
        .env("PYK_CACHE_DIR", build_cache())
        .current_dir(app("v1").path())
        .args(["publish", "--python", PY]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(err.trim().lines().count(), 1, "no build output: {err}");
    assert!(err.contains("may read but not publish"), "{err}");
}

#[test]
fn info_of_a_library_inside_its_own_source_tree() {
    let (_dir, server) = server();
    let lib = project(&[
        ("pyk.toml", "name = \"mylib\"\nlib = \"mylib\"\n"),
        (
            "mylib/__init__.py",
            "def hello():\n    \"\"\"Says hello.\"\"\"\n",
        ),
    ]);
    publish(&server, lib.path());
    let client = Client::new(&server);
    let out = ok(client
        .pyk()
        .current_dir(lib.path())
        .args(["info", "mylib", "--lib"]));
    assert!(out.contains("hello"), "{out}");
    // Without --lib: the hint.
    let err = fails(client.pyk().current_dir(lib.path()).args(["info", "mylib"]));
    assert!(err.contains("--lib"), "{err}");
}

#[test]
fn python_m_runs_a_package_librarys_main() {
    let (_dir, server) = server();
    let lib = project(&[
        ("pyk.toml", "name = \"mylib\"\nlib = \"mylib\"\n"),
        ("mylib/__init__.py", "X = 1\n"),
        (
            "mylib/__main__.py",
            "import sys\nfrom mylib import X\nprint('main', X, *sys.argv[1:])\n",
        ),
    ]);
    // Unsigned, so that the one warning is there to be counted.
    let publisher = Client::new(&server);
    ok(publisher
        .pyk()
        .env("PYK_SIGNING_KEY", "none")
        .env("PYK_CACHE_DIR", build_cache())
        .current_dir(lib.path())
        .args(["publish", "--python", PY]));
    let client = Client::new(&server);
    client.trust(&[]);
    ok(client
        .pyk()
        .args(["python-setup", "--python", SYSTEM_PYTHON]));
    let out = run(client.python().args(["-m", "pyk.mylib", "a"]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "main 1 a\n", "{err}");
    assert_eq!(err.matches("warning").count(), 1, "{err}");
}

#[test]
fn a_pull_of_several_writes_nothing_when_one_name_fails() {
    let (_dir, server) = server();
    publish(&server, app("v1").path());
    let client = Client::new(&server);
    let out = client.home.path().join("out");
    let err = fails(client.pyk().args(["pull", "app", "nosuch", "-o"]).arg(&out));
    assert!(err.contains("nosuch"), "{err}");
    assert!(
        !out.join("app").exists(),
        "app was written before nosuch failed"
    );
    ok(client
        .pyk()
        .args(["pull", "app", "-o"])
        .arg(out.join("app")));
}
