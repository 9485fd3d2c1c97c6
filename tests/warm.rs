//! The warm path, end to end against a real `pyk serve`: a warm `pyk foo` changes nothing on
//! disk, whichever way it resolved (the server's "not modified", a pinned version, an
//! unsigned package, the cached copy with the server down). Checked under strace, since
//! root (these tests' usual user) writes into a read-only directory all the same.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::repo::*;
use common::*;

/// The system calls that change a file or directory (and `open`, whose flags say whether
/// it may write or create).
const CHANGES: &str = "trace=open,openat,creat,rename,renameat,renameat2,link,linkat,symlink,\
                       symlinkat,unlink,unlinkat,rmdir,mkdir,mkdirat,truncate,ftruncate,\
                       fallocate,fsync,fdatasync,sync_file_range,syncfs,chmod,fchmod,fchmodat,\
                       chown,fchown,fchownat,lchown,utimensat,setxattr,fsetxattr,removexattr";

/// strace, or `None` (said on stderr, for the test that then skips).
fn strace() -> Option<PathBuf> {
    let path = Path::new("/usr/bin/strace");
    if path.is_file() {
        return Some(path.to_owned());
    }
    eprintln!("skipped: no /usr/bin/strace (scripts/setup.sh installs it)");
    None
}

/// Runs `client`'s `pyk ARGS…` under strace; returns its stdout, stderr and every system
/// call that changed (or tried to change) something under the machine's home, where its
/// cache, config and trust records are.
fn changes(strace: &Path, client: &Client, args: &[&str]) -> (String, String, Vec<String>) {
    let log = client.home.path().with_extension("strace");
    let mut cmd = Command::new(strace);
    cmd.args(["-f", "-y", "-qq", "-e", CHANGES, "-o"])
        .arg(&log)
        .arg(env!("CARGO_BIN_EXE_pyk"))
        .args(args);
    client.env(&mut cmd);
    let out = run(&mut cmd);
    let home = client.home.path().to_str().unwrap();
    let trace = fs::read_to_string(&log).unwrap();
    fs::remove_file(&log).unwrap();
    let changed = trace
        .lines()
        .filter(|line| line.contains(home) && changes_something(line))
        .map(str::to_owned)
        .collect();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        changed,
    )
}

/// Whether a traced call may change the file system: any of them but an `open` that only
/// reads.
fn changes_something(line: &str) -> bool {
    let call = line
        .split_once(' ')
        .map_or(line, |(_, rest)| rest.trim_start());
    let opens = call.starts_with("open(") || call.starts_with("openat(");
    !opens
        || ["O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC"]
            .iter()
            .any(|f| call.contains(f))
}

#[test]
fn a_warm_run_writes_nothing() {
    let Some(strace) = strace() else { return };
    let (_dir, mut server) = server();
    publish(&server, app("v1").path());
    let client = Client::new(&server);

    // The first run fills the cache: the check can see writes.
    let (out, err, cold) = changes(&strace, &client, &["app"]);
    assert_eq!(out, "v1 app 1\n", "{err}");
    assert!(
        cold.iter().any(|l| l.contains("packages-v1")) && cold.iter().any(|l| l.contains("fsync")),
        "a first run records the version: {cold:#?}"
    );

    // "Not modified", and a pinned version (no request at all).
    for args in [
        &["app"][..],
        &["app", "again"],
        &["app@1"],
        &["run", "app@1"],
    ] {
        let (out, err, changed) = changes(&strace, &client, args);
        assert!(out.starts_with("v1 app 1"), "{args:?}: {out}{err}");
        assert!(changed.is_empty(), "{args:?} wrote: {changed:#?}");
    }

    // An unsigned package, on a machine that trusts no key: its warning is recorded once.
    let bare = project(&[
        ("pyk.toml", "name = \"bare\"\nrun = \"bare.py\"\n"),
        ("bare.py", "print('bare ran')\n"),
    ]);
    ok(Client::new(&server)
        .pyk()
        .env("PYK_CACHE_DIR", build_cache())
        .env("PYK_SIGNING_KEY", "none")
        .current_dir(bare.path())
        .args(["-q", "publish", "--python", PY]));
    let trusting_none = Client::new(&server);
    trusting_none.trust(&[]);
    let (out, err, first) = changes(&strace, &trusting_none, &["bare"]);
    assert_eq!(out, "bare ran\n", "{err}");
    assert!(err.contains("not signed"), "{err}");
    assert!(first.iter().any(|l| l.contains("unsigned")), "{first:#?}");
    let (out, err, changed) = changes(&strace, &trusting_none, &["bare"]);
    assert_eq!((out.as_str(), err.as_str()), ("bare ran\n", ""));
    assert!(
        changed.is_empty(),
        "an unsigned warm run wrote: {changed:#?}"
    );

    // A version record lost (a first run stopped between its two records): the 304 that
    // confirms the latest writes it back, once.
    let record = client.cache().join("packages-v1/run/app@1.json");
    let kept = fs::read(&record).unwrap();
    fs::remove_file(&record).unwrap();
    let (out, err, changed) = changes(&strace, &client, &["app"]);
    assert_eq!(out, "v1 app 1\n", "{err}");
    assert!(changed.iter().any(|l| l.contains("app@1")), "{changed:#?}");
    assert_eq!(fs::read(&record).unwrap(), kept);
    let (_, _, changed) = changes(&strace, &client, &["app"]);
    assert!(changed.is_empty(), "{changed:#?}");

    // The server down: the cached copy runs, with its warning, and nothing is written.
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let (out, err, changed) = changes(&strace, &client, &["app"]);
    assert_eq!(out, "v1 app 1\n");
    assert!(err.contains("running the cached app version 1"), "{err}");
    assert!(changed.is_empty(), "the fallback wrote: {changed:#?}");
}

#[test]
fn verbose_shows_the_update_check_and_the_cache_entries_used() {
    let (_dir, server) = server();
    publish(&server, app("v1").path());
    let client = Client::new(&server);
    let stderr = |args: &[&str], log: Option<&str>| {
        let mut cmd = client.pyk();
        if let Some(filter) = log {
            cmd.env("PYK_LOG", filter);
        }
        let out = run(cmd.args(args));
        assert!(out.status.success(), "{args:?}: {out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "v1 app 1\n");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    // The first run: the fetch and each entry filled.
    let first = stderr(&["-v", "app"], None);
    assert!(
        first.contains("GET http://127.0.0.1:") && first.contains("/v1/packages/run/app: 200 in "),
        "{first}"
    );
    assert!(
        first.contains("cache: filled ") && first.contains("/apps-v1/"),
        "{first}"
    );
    assert!(
        !first.contains("Authorization") && !first.contains(KEY),
        "{first}"
    );

    // Warm: the update check's 304 and the entries used, by `-v` or by PYK_LOG alike.
    for (args, log) in [(&["-v", "app"][..], None), (&["app"], Some("debug"))] {
        let warm = stderr(args, log);
        assert!(warm.contains("/v1/packages/run/app: 304 in "), "{warm}");
        assert!(warm.contains("not modified, version 1"), "{warm}");
        for used in ["/packages-v1/run/app.json", "/runtimes-v2/", "/apps-v1/"] {
            assert!(
                warm.lines()
                    .any(|l| l.contains("cache: using") && l.contains(used)),
                "{used}: {warm}"
            );
        }
        assert!(!warm.contains("cache: wrote"), "{warm}");
    }
    // Without either, nothing of it.
    assert_eq!(stderr(&["app"], None), "");
    // A filter that names one crate logs only that one's events.
    let client_only = stderr(&["app"], Some("pyk_net=debug"));
    assert!(client_only.contains(": 304 in "), "{client_only}");
    assert!(!client_only.contains("cache: using"), "{client_only}");
    // A bad filter is one line and a failure.
    let err = fails(client.pyk().arg("app").env("PYK_LOG", "pyk=loud"));
    assert!(err.starts_with("pyk: error: PYK_LOG=\"pyk=loud\" is not a log filter"));
    assert_eq!(err.lines().count(), 1, "{err}");

    // The server down: why the fallback fired.
    drop(server);
    let down = stderr(&["-v", "app"], None);
    assert!(
        down.contains("failed after")
            && down.contains("the cached version 1 runs instead of the server's answer"),
        "{down}"
    );
    assert!(down.contains("running the cached app version 1"), "{down}");
}

/// Where no thread can be started (a process limit), a warm run checks the cached version
/// after asking the server instead of beside it: it runs all the same, without a panic.
/// The run is nobody's with one process allowed (root is exempt from the limit); strace,
/// outside the limit, shows the refused thread.
#[test]
fn a_warm_run_where_no_thread_can_start_still_runs() {
    let Some(strace) = strace() else { return };
    let (_dir, server) = server();
    publish(&server, app("v1").path());
    let client = Client::new(&server);
    assert_eq!(ok(client.pyk().arg("app")), "v1 app 1\n");
    ok(Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(client.home.path()));
    let log = client.home.path().with_extension("strace");
    let mut cmd = Command::new(strace);
    cmd.args(["-f", "-qq", "-e", "trace=clone,clone3", "-o"])
        .arg(&log)
        .args([
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "prlimit",
        ])
        .args(["--nproc=1", env!("CARGO_BIN_EXE_pyk"), "-v", "app"]);
    client.env(&mut cmd);
    let out = run(&mut cmd);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "v1 app 1\n", "{err}");
    assert!(err.contains("not modified, version 1"), "{err}");
    let calls = fs::read_to_string(&log).unwrap();
    assert!(
        calls
            .lines()
            .any(|l| l.contains("CLONE_THREAD") && l.contains("EAGAIN")),
        "no thread was refused: {calls}"
    );
}

/// `pyk app <&- >&-`: a standard descriptor left closed is /dev/null for pyk, so the files
/// it opens on the way (the cache's lock files, which stay open across the exec to keep
/// the entries from being pruned) do not take its number and become the program's stdin.
#[test]
fn a_closed_standard_descriptor_reaches_the_program_as_dev_null() {
    let (_dir, server) = server();
    let fds = project(&[
        ("pyk.toml", "name = \"fds\"\nrun = \"fds.py\"\n"),
        (
            "fds.py",
            "import os\nos.write(2, (os.readlink('/proc/self/fd/0') + ' ' + os.readlink('/proc/self/fd/1')).encode())\n",
        ),
    ]);
    publish(&server, fds.path());
    let client = Client::new(&server);
    for _ in 0..2 {
        let mut cmd = Command::new("bash");
        client.env(&mut cmd);
        let cmd = cmd
            .arg("-c")
            .arg(format!("{} fds <&- >&-", env!("CARGO_BIN_EXE_pyk")));
        let out = run(cmd);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{err}");
        assert_eq!(err, "/dev/null /dev/null");
    }
}
