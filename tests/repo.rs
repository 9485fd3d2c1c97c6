//! The repository end to end: a real `pyk serve` process on 127.0.0.1, real clients with
//! their own caches, real artifacts.

mod common;
#[path = "../client/tests/common/cut.rs"]
mod cut;

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::repo::*;
use common::*;
use cut::Cut;

#[test]
fn publish_run_publish_again_runs_the_new_version() {
    let (_dir, server) = server();
    let said = publish(&server, app("v1").path());
    assert!(said.contains("Published run app version 1"), "{said}");
    let client = Client::new(&server);
    assert_eq!(
        ok(client.pyk().args(["app", "x", "--flag"])),
        "v1 app 1 x --flag\n"
    );
    assert_eq!(
        run(client.pyk().args(["app", "fail"])).status.code(),
        Some(3)
    );

    // The second version uploads only its app layer and trailer: the rest is on the server.
    let said = publish(&server, app("v2").path());
    assert!(
        said.contains("version 2") && said.contains(" KiB, the server already had "),
        "{said}"
    );
    assert_eq!(ok(client.pyk().args(["run", "app", "y"])), "v2 app 2 y\n");
    let listing = ok(client.pyk().arg("list"));
    assert!(
        listing.starts_with("run  app") && listing.contains(" 2 "),
        "{listing}"
    );

    // A launcher on PATH.
    let bin = client.home.path().join("bin");
    ok(client.pyk().args(["install", "app"]).arg(&bin));
    let mut launcher = Command::new(bin.join("app"));
    client.env(&mut launcher);
    assert_eq!(ok(launcher.arg("z").env_remove("PATH")), "v2 app 2 z\n");
    fs::write(bin.join("other"), "#!/bin/sh\necho mine\n").unwrap();
    let err = fails(client.pyk().args(["install", "other"]).arg(&bin));
    assert!(err.contains("not written by pyk"), "{err}");

    ok(client.pyk().args(["remove", "app", "--yes"]));
    let err = fails(client.pyk().arg("app"));
    assert!(err.contains("no package run/app"), "{err}");
}

#[test]
fn libraries_import_in_a_separate_python() {
    let (_dir, server) = server();
    let lib = project(&[
        ("pyk.toml", "name = \"mylib\"\nlib = \"mylib\"\n"),
        ("mylib/__init__.py", "from .core import square\n"),
        ("mylib/core.py", "def square(x):\n    return x * x\n"),
        (
            "mylib/__main__.py",
            "import sys\nprint('main of mylib', sys.argv[1:])\n",
        ),
    ]);
    publish(&server, lib.path());
    // A runner of the same name is a different package.
    let err = fails(Client::new(&server).pyk().arg("mylib"));
    assert!(err.contains("no package run/mylib"), "{err}");

    let client = Client::new(&server);
    let said = ok(client
        .pyk()
        .args(["python-setup", "--python", SYSTEM_PYTHON]));
    assert!(said.contains("userbase"), "{said}");
    let out = ok(client.python().args(["-c", "from pyk import mylib; from pyk.mylib.core import square; print(mylib.square(7), square(3))"]));
    assert_eq!(out, "49 9\n");
    assert_eq!(
        ok(client.python().args(["-m", "pyk.mylib", "a"])),
        "main of mylib ['a']\n"
    );
    let err =
        String::from_utf8(run(client.python().args(["-c", "from pyk import nosuchlib"])).stderr)
            .unwrap();
    assert!(
        err.contains("ImportError") && err.contains("no package lib/nosuchlib"),
        "{err}"
    );

    // A Python of another minor version gets a clear ImportError.
    let py312 = Path::new(&std::env::var("HOME").unwrap_or_default())
        .join(".pyenv/versions/3.12.1/bin/python3.12");
    if py312.exists() {
        ok(client.pyk().args(["python-setup", "--python"]).arg(&py312));
        let mut cmd = Command::new(&py312);
        client.env(&mut cmd);
        let err = String::from_utf8(run(cmd.args(["-c", "from pyk import mylib"])).stderr).unwrap();
        assert!(
            err.contains("built for Python 3.11; this is Python 3.12"),
            "{err}"
        );
    }
}

#[test]
fn the_cached_copy_runs_when_the_server_is_down_or_silent() {
    let (dir, mut server) = server();
    publish(&server, app("v1").path());
    let client = Client::new(&server);
    ok(client.pyk().arg("app"));
    server.child.kill().unwrap();
    server.child.wait().unwrap();

    let out = run(client.pyk().args(["app", "offline"]));
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "v1 app 1 offline\n");
    let warning = String::from_utf8_lossy(&out.stderr);
    assert!(
        warning.contains("warning") && warning.contains("unreachable"),
        "{warning}"
    );
    assert_eq!(warning.trim().lines().count(), 1, "{warning}");
    // `-q` silences progress only: the fallback's warning still prints, the same line.
    let quiet = run(client.pyk().args(["-q", "app", "offline"]));
    assert!(quiet.status.success());
    assert_eq!(String::from_utf8_lossy(&quiet.stderr), warning);

    let never = Client::new(&server);
    let err = fails(never.pyk().arg("app"));
    assert!(err.contains("never been fetched"), "{err}");

    // A server that accepts connections but never answers: the wait is bounded.
    let silent = TcpListener::bind(("127.0.0.1", server.port())).unwrap();
    let started = Instant::now();
    let out = run(client.pyk().args(["app", "slow"]).env("PYK_TIMEOUT", "1"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "waited {:?}",
        started.elapsed()
    );
    drop(silent);

    // Restarted on the same store, it serves what it had.
    let server = Server::start(&dir.path().join("pyk.db"), server.port());
    assert_eq!(ok(Client::new(&server).pyk().arg("app")), "v1 app 1\n");
}

#[test]
fn a_download_that_breaks_off_runs_the_cached_version() {
    let (_dir, server) = server();
    publish(&server, app("v1").path());
    let client = Client::new(&server);
    ok(client.pyk().arg("app"));
    publish(&server, app("v2").path());
    // The new manifest arrives; its one new blob is cut half-way, by a server that dies
    // and by one that stalls: the cached version runs, within the timeout and a second.
    let timeout = Duration::from_secs(2);
    for cut in [Cut::Close, Cut::Stall] {
        let through = cut::proxy(&server.url, cut);
        let started = Instant::now();
        let out = run(client
            .pyk()
            .arg("app")
            .env("PYK_SERVER", &through)
            .env("PYK_TIMEOUT", timeout.as_secs().to_string()));
        let warning = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{cut:?}: {warning}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "v1 app 1\n",
            "{cut:?}"
        );
        assert!(
            warning.starts_with("pyk: warning: ") && warning.contains("stopped half-way"),
            "{cut:?}: {warning}"
        );
        assert_eq!(warning.trim().lines().count(), 1, "{warning}");
        let took = started.elapsed();
        assert!(
            took <= timeout + Duration::from_secs(1),
            "{cut:?}: {took:?}"
        );
    }
    assert_eq!(ok(client.pyk().arg("app")), "v2 app 2\n");
}

#[test]
fn access_needs_the_key() {
    let (_dir, server) = server();
    publish(&server, app("v1").path());

    // No token: 401 and nothing else.
    let mut raw = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    write!(
        raw,
        "GET /v1/packages HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    raw.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 401"), "{reply}");
    let body = reply.split("\r\n\r\n").nth(1).unwrap_or_default();
    assert!(!body.contains("app"), "{reply}");

    let mut client = Client::new(&server);
    client.key = "wrong".into();
    let err = fails(client.pyk().arg("app"));
    assert!(err.contains("key does not match"), "{err}");
    let err = fails(client.pyk().args(["remove", "app", "--yes"]));
    assert!(err.contains("key does not match"), "{err}");
    let err = fails(client.pyk().arg("list").env_remove("PYK_KEY"));
    assert!(err.contains("no key configured"), "{err}");

    // A token signed for one request does not open another.
    let client = Client::new(&server);
    let token = ok(client.pyk().args(["sign", "GET", "/v1/packages/run/app"]));
    let mut raw = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    write!(
        raw,
        "GET /v1/packages HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nConnection: close\r\n\r\n",
        token.trim()
    )
    .unwrap();
    let mut reply = String::new();
    raw.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 401"), "{reply}");
}

#[test]
fn a_tampered_blob_is_refused_before_anything_runs() {
    let (_dir, server) = server();
    publish(&server, app("v1").path());
    // Flip a byte in every stored blob.
    let mut flipped = 0;
    for shard in fs::read_dir(server.store.join("blobs")).unwrap().flatten() {
        for blob in fs::read_dir(shard.path()).unwrap().flatten() {
            let mut bytes = fs::read(blob.path()).unwrap();
            let mid = bytes.len() / 2;
            bytes[mid] ^= 0x40;
            fs::write(blob.path(), bytes).unwrap();
            flipped += 1;
        }
    }
    // Stub, runtime layer, app layer, trailer, API tree.
    assert_eq!(flipped, 5);
    let client = Client::new(&server);
    let err = fails(client.pyk().arg("app"));
    assert!(err.contains("refusing blob"), "{err}");
    // Nothing of it was kept or unpacked.
    for bucket in ["blobs-v1", "runtimes-v2", "apps-v1"] {
        assert_eq!(
            entries(&client.cache().join(bucket)),
            Vec::<String>::new(),
            "{bucket}"
        );
    }
}

/// The entries of a cache bucket: what is in place, not locks or work in progress.
fn entries(bucket: &Path) -> Vec<String> {
    let Ok(dir) = fs::read_dir(bucket) else {
        return Vec::new();
    };
    let mut names: Vec<_> = dir
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.') && !n.ends_with(".lock"))
        .collect();
    names.sort();
    names
}

#[test]
fn twenty_clients_run_while_one_publishes() {
    let (_dir, server) = server();
    publish(&server, app("v1").path());
    let client = Client::new(&server);
    ok(client.pyk().arg("app"));
    let v2 = app("v2");
    let runners: Vec<_> = (0..20)
        .map(|_| {
            let mut cmd = client.pyk();
            cmd.arg("app").stdout(Stdio::piped()).stderr(Stdio::piped());
            std::thread::spawn(move || (0..5).map(|_| cmd.output().unwrap()).collect::<Vec<_>>())
        })
        .collect();
    publish(&server, v2.path());
    for runner in runners {
        for out in runner.join().unwrap() {
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(stdout == "v1 app 1\n" || stdout == "v2 app 2\n", "{stdout}");
        }
    }
    assert_eq!(ok(client.pyk().arg("app")), "v2 app 2\n");
}

#[test]
fn a_hundred_simultaneous_first_runs_all_succeed() {
    let (_dir, server) = server();
    publish(&server, app("v1").path());
    // One machine, an empty cache, a hundred `pyk app` at once: one fetches and unpacks each
    // layer while the others wait on its lock, then all run from the same entries.
    let client = Client::new(&server);
    let children: Vec<_> = (0..100)
        .map(|i| {
            client
                .pyk()
                // A hundred processes on two cores: the point is the cache, not latency.
                .env("PYK_TIMEOUT", "60")
                .args(["app", &i.to_string()])
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
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("v1 app 1 {i}\n")
        );
    }
    // Each layer unpacked once, nothing half-written, no whole artifact.
    for bucket in ["runtimes-v2", "apps-v1"] {
        let names = entries(&client.cache().join(bucket));
        assert_eq!(names.len(), 1, "{bucket}: {names:?}");
    }
    assert!(!client.cache().join("artifacts-v1").exists());
}

#[test]
fn bad_names_are_refused() {
    let (_dir, server) = server();
    let client = Client::new(&server);
    for name in ["../x", "a/b", ".hidden"] {
        let err = fails(client.pyk().args(["run", name]));
        assert!(err.contains("invalid package name"), "{name}: {err}");
        let err = fails(client.pyk().args(["install", name, "/tmp"]));
        assert!(err.contains("invalid package name"), "{name}: {err}");
    }
    let mut raw = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    let token = ok(client
        .pyk()
        .args(["sign", "GET", "/v1/packages/run/..%2Fx"]));
    write!(raw, "GET /v1/packages/run/..%2Fx HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nConnection: close\r\n\r\n", token.trim()).unwrap();
    let mut reply = String::new();
    raw.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
}

#[test]
fn watch_reports_new_versions_and_command_names_run_with_pyk_run() {
    let (_dir, server) = server();
    let client = Client::new(&server);
    let mut watcher = client
        .pyk()
        .args(["watch", "list", "--once"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once it says what it watches from, any later publish is reported (watch compares
    // against that version, so nothing published after this line can be missed).
    let mut said = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(watcher.stderr.take().unwrap()),
        &mut said,
    )
    .unwrap();
    assert!(said.starts_with("watching run package list"), "{said}");
    // A package named like a command, published with the original spelling `pyk --build`.
    let dir = project(&[
        ("pyk.toml", "name = \"list\"\nrun = \"list.py\"\n"),
        ("list.py", "print('the list program')\n"),
    ]);
    let publisher = Client::new(&server);
    ok(publisher
        .pyk()
        .env("PYK_CACHE_DIR", build_cache())
        .current_dir(dir.path())
        .args(["--build", "--python", PY]));
    let out = watcher.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("run list: version 1 published by "));
    assert_eq!(ok(client.pyk().args(["run", "list"])), "the list program\n");
    assert!(ok(client.pyk().arg("list")).starts_with("run  list"));
}

/// The disk figure of issue 10: ten versions of a click app (one line changed each),
/// published and each run once on one client, cost one runtime, one dependency layer and
/// ten app layers, with no whole artifact anywhere. `--nocapture` prints `du` of each
/// bucket (the figure in the README).
#[test]
fn ten_versions_cost_one_runtime_one_deps_layer_and_ten_app_layers() {
    let (_dir, server) = server();
    let client = Client::new(&server);
    for v in 1..=10 {
        let dir = project(&[
            (
                "pyk.toml",
                "name = \"greet\"\nrun = \"greet.py\"\ndependencies = [\"click==8.1.7\"]\n",
            ),
            (
                "greet.py",
                &format!("import click\n\n@click.command()\n@click.argument('who')\ndef main(who):\n    click.echo(f'v{v} hello {{who}}')\n\nmain()\n"),
            ),
        ]);
        publish(&server, dir.path());
        assert_eq!(
            ok(client.pyk().args(["greet", "you"])),
            format!("v{v} hello you\n")
        );
    }
    let cache = client.cache();
    let count = |bucket: &str| entries(&cache.join(bucket)).len();
    assert_eq!(count("runtimes-v2"), 1);
    // click is one unit, and the ten versions' one view of it.
    assert_eq!(count("units-v1"), 1);
    assert_eq!(count("views-v1"), 1);
    assert_eq!(count("apps-v1"), 10);
    // The ten trailers, a few KB each; no layer or artifact is kept whole.
    assert_eq!(count("blobs-v1"), 10);
    for blob in entries(&cache.join("blobs-v1")) {
        let len = fs::metadata(cache.join("blobs-v1").join(blob))
            .unwrap()
            .len();
        assert!(len < 64 * 1024, "{len}");
    }
    assert!(!cache.join("artifacts-v1").exists());
    let du = |path: &Path| {
        let out = ok(Command::new("du").arg("-sk").arg(path));
        out.split_whitespace().next().unwrap().to_owned()
    };
    for bucket in [
        "runtimes-v2",
        "units-v1",
        "views-v1",
        "apps-v1",
        "blobs-v1",
        "packages-v1",
    ] {
        eprintln!("{bucket:12} {:>8} KiB", du(&cache.join(bucket)));
    }
    eprintln!("{:12} {:>8} KiB", "total", du(&cache));
}

#[test]
fn imports_hold_their_entries_while_the_cache_is_cleaned() {
    let (_dir, server) = server();
    let lib = project(&[
        ("pyk.toml", "name = \"mylib\"\nlib = \"mylib\"\n"),
        ("mylib/__init__.py", "from .core import square\n"),
        ("mylib/core.py", "def square(x):\n    return x * x\n"),
    ]);
    publish(&server, lib.path());
    let client = Client::new(&server);
    ok(client
        .pyk()
        .args(["python-setup", "--python", SYSTEM_PYTHON]));
    // `pyk cache clean` over and over, as fast as it goes, while 60 imports run three at a
    // time: each must find what it resolved still there, up to its last submodule.
    let stop = std::sync::atomic::AtomicBool::new(false);
    let failures = std::thread::scope(|s| {
        let cleaner = s.spawn(|| {
            let mut cleans = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                ok(client.pyk().args(["-q", "cache", "clean"]));
                cleans += 1;
            }
            cleans
        });
        let importers: Vec<_> = (0..3)
            .map(|_| {
                s.spawn(|| {
                    (0..20)
                        .filter_map(|_| {
                            let out = run(client.python().args([
                                "-c",
                                "from pyk import mylib; from pyk.mylib.core import square; print(mylib.square(7))",
                            ]));
                            let stdout = String::from_utf8_lossy(&out.stdout);
                            (!out.status.success() || stdout != "49\n")
                                .then(|| String::from_utf8_lossy(&out.stderr).into_owned())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let failures: Vec<String> = importers
            .into_iter()
            .flat_map(|i| i.join().unwrap())
            .collect();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let cleans = cleaner.join().unwrap();
        assert!(
            cleans >= 10,
            "only {cleans} cleans ran alongside the imports"
        );
        failures
    });
    assert!(
        failures.is_empty(),
        "{} of 60 imports failed: {failures:#?}",
        failures.len()
    );
}
