//! Every failure reads as one line: real error paths (a bad spec, a bad config, a wrong
//! key against a real server, a server that is down with nothing cached, truncated and
//! tampered artifacts and blobs, an unusable cache, unknown packages and versions, bad
//! arguments) each end in exactly one `pyk: error:` line, a non-zero exit and no cause
//! printed twice: no segment of the `: `-joined cause chain comes back later in the line,
//! whole or inside another.

mod common;

use std::fs;
use std::process::Command;
use std::sync::Arc;

use common::mitm;
use common::repo::*;
use common::*;
use pyk_s3::seaweedfs;

/// What went wrong across a test's runs, reported together at its end.
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    /// Runs `cmd`, which must fail, and checks its stderr: one error line (after any
    /// warning lines), no panic, no cause repeated. Returns the error line.
    fn one_error(&mut self, what: &str, cmd: &mut Command) -> String {
        let out = run(cmd);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("error:")).collect();
        let line = errors.first().copied().unwrap_or_default().to_owned();
        let problem = if out.status.success() {
            Some("did not fail")
        } else if out.status.code() == Some(101) || stderr.contains("panicked") {
            Some("panicked")
        } else if errors.len() != 1 || !line.starts_with("pyk: error: ") {
            Some("not one `pyk: error:` line")
        } else if stderr.trim_end().lines().last() != Some(&line) {
            Some("the error is not the last line")
        } else {
            repeated(&line).map(|_| "a cause printed twice")
        };
        eprintln!("{what}: {line}");
        if let Some(problem) = problem {
            self.0.push(format!("{what}: {problem}: {stderr}"));
        }
        line
    }

    fn check(self) {
        assert!(self.0.is_empty(), "{}", self.0.join("\n"));
    }
}

/// A segment of the line's cause chain that comes back later: equal to a later one, or
/// holding a later one (a cause written into a message and chained again).
fn repeated(line: &str) -> Option<String> {
    let chain = line.trim_start_matches("pyk: error: ");
    let parts: Vec<&str> = chain.split(": ").map(str::trim).collect();
    for (i, earlier) in parts.iter().enumerate() {
        for later in &parts[i + 1..] {
            // Short segments (a path's last word, `x`) may well come back honestly.
            if later.len() >= 12 && earlier.contains(later) {
                return Some(later.to_string());
            }
        }
    }
    None
}

#[test]
fn the_segment_check_catches_a_repeated_cause() {
    let bad = "pyk: error: cache directory /x is not usable: File exists (os error 17): \
               File exists (os error 17)";
    assert_eq!(repeated(bad).as_deref(), Some("File exists (os error 17)"));
    let inside = "pyk: error: cannot read f (No such file or directory (os error 2)): \
                  No such file or directory (os error 2)";
    assert!(repeated(inside).is_some());
    let fine = "pyk: error: cannot read /a/b: No such file or directory (os error 2)";
    assert_eq!(repeated(fine), None);
}

#[test]
fn local_failures_are_one_line_each() {
    let dir = project(&[
        ("pyk.toml", "name = \"e\"\nrun = \"e.py\"\n"),
        ("e.py", "print('e')\n"),
        ("bad/pyk.toml", "name = \"e\"\nrun = [\n"),
        (
            "unknown/pyk.toml",
            "name = \"e\"\nrun = \"e.py\"\nfrobnicate = 1\n",
        ),
        ("noentry/pyk.toml", "name = \"e\"\nrun = \"missing.py\"\n"),
        ("junk.bin", "junk"),
        ("bad-config.toml", "server = [\n"),
        ("typed-config.toml", "server = 3\n"),
    ]);
    let d = dir.path();
    let mut problems = Problems::default();
    let artifact = build(d, "e", &[]);
    let bytes = fs::read(&artifact).unwrap();
    fs::write(d.join("truncated"), &bytes[..bytes.len() / 2]).unwrap();
    fs::write(d.join("tail-cut"), &bytes[..bytes.len() - 10]).unwrap();
    let mut tampered = bytes.clone();
    let mid = tampered.len() * 2 / 3;
    tampered[mid] ^= 0x55;
    fs::write(d.join("tampered"), &tampered).unwrap();

    let runs: &[(&str, &[&str])] = &[
        ("build: bad toml", &["build", "bad"]),
        ("build: unknown key", &["build", "unknown"]),
        ("build: missing entry", &["build", "noentry"]),
        ("build: bad --python", &["build", "--python", "3.x"]),
        (
            "build: bad --platform",
            &["build", "--platform", "windows-x86"],
        ),
        ("build: no such dir", &["build", "nowhere"]),
        ("inspect: junk", &["inspect", "junk.bin"]),
        ("inspect: dir", &["inspect", "./"]),
        ("inspect: missing", &["inspect", "./missing"]),
        ("inspect: truncated", &["inspect", "./truncated"]),
        ("inspect: tail cut", &["inspect", "./tail-cut"]),
        ("inspect: tampered", &["inspect", "./tampered"]),
        ("info: truncated", &["info", "./truncated"]),
        ("info: junk", &["info", "./junk.bin"]),
        (
            "sign: missing body",
            &["sign", "GET", "/", "--body", "missing"],
        ),
        (
            "cache prune: bad age",
            &["cache", "prune", "--older-than", "soon"],
        ),
        (
            "cache prune: bad size",
            &["cache", "prune", "--max-size", "lots"],
        ),
        (
            "runtime import: missing",
            &["runtime", "import", "/nonexistent/python3"],
        ),
        (
            "runtime import: not a program",
            &["runtime", "import", "/etc/hostname"],
        ),
        (
            "build: junk runtime archive",
            &["build", "--runtime", "junk.bin"],
        ),
        ("runtime fetch: bad version", &["runtime", "fetch", "three"]),
        (
            "build: missing runtime archive",
            &["build", "--runtime", "/nonexistent.tar.zst"],
        ),
        (
            "build: runtime archive a directory",
            &["build", "--runtime", "."],
        ),
        (
            "keygen: unwritable",
            &["keygen", "--signing", "-o", "/etc/passwd/x"],
        ),
        ("migrate: no store", &["migrate", "./nowhere", "./else"]),
        ("install: bad name", &["install", "../x"]),
        ("trust: bad key", &["trust", "e", "not-a-key"]),
    ];
    for (what, args) in runs {
        problems.one_error(
            what,
            pyk()
                .current_dir(d)
                .env("PYK_KEY", "k")
                .env("PYK_SERVER", "http://127.0.0.1:9")
                .args(*args),
        );
    }
    // A config that does not parse, or does not type: named, with its file, once.
    for config in ["bad-config.toml", "typed-config.toml"] {
        let line = problems.one_error(
            config,
            pyk()
                .current_dir(d)
                .env("PYK_CONFIG", d.join(config))
                .env("PYK_KEY", "k")
                .arg("list"),
        );
        if !line.contains(config) {
            problems.0.push(format!("{config}: not named: {line}"));
        }
    }
    // A cache whose bucket is a file: the entry it cannot list, once.
    let cache = d.join("broken-cache");
    fs::create_dir(&cache).unwrap();
    fs::write(cache.join("deps-v1"), "not a directory").unwrap();
    for args in [
        &["cache", "list"][..],
        &["cache", "size"],
        &["cache", "prune"],
    ] {
        problems.one_error(
            "a bucket that is a file",
            pyk().current_dir(d).env("PYK_CACHE_DIR", &cache).args(args),
        );
    }
    // A cache directory that cannot be made: once, not twice.
    // (`cache dir` and `runtime list` fall back to `$TMPDIR/pyk-<uid>`, as the launcher does.)
    for args in [&["e"][..], &["build"], &["pull", "e"]] {
        problems.one_error(
            "unusable cache",
            pyk()
                .current_dir(d)
                .env("PYK_CACHE_DIR", "/etc/passwd/x")
                .env("PYK_SERVER", "http://127.0.0.1:9")
                .env("PYK_KEY", "k")
                .args(args),
        );
    }
    problems.check();
}

#[test]
fn repository_failures_are_one_line_each() {
    let (_dir, server) = server();
    let mut problems = Problems::default();
    publish(&server, app("v1").path());
    let client = Client::new(&server);
    let runs: &[(&str, &[&str])] = &[
        ("unknown package", &["nosuch"]),
        ("unknown package: versions", &["versions", "nosuch"]),
        ("unknown package: info", &["info", "nosuch"]),
        ("unknown package: pull", &["pull", "nosuch"]),
        ("unknown package: inspect", &["inspect", "nosuch"]),
        ("unknown package: shell", &["shell", "nosuch"]),
        ("unknown version", &["pull", "app", "--version", "9.9"]),
        ("unknown version: run", &["app@9.9"]),
        ("lib of a run package", &["versions", "--lib", "app"]),
        ("promote unknown", &["promote", "app", "9.9"]),
        ("yank unknown", &["yank", "app", "9.9"]),
        (
            "pull into a file's child",
            &["pull", "app", "-o", "/etc/passwd/x/"],
        ),
        ("push missing file", &["push", "f", "1", "/nonexistent"]),
        ("push a directory", &["push", "f", "1", "/tmp"]),
        ("unpack two", &["pull", "app", "app", "--unpack", "u"]),
    ];
    let here = tempfile::tempdir().unwrap();
    for (what, args) in runs {
        problems.one_error(what, client.pyk().current_dir(here.path()).args(*args));
    }
    // Refusals by the server: a wrong key, a read key that writes.
    let mut wrong = Client::new(&server);
    wrong.key = "not the key".into();
    for args in [
        &["list"][..],
        &["app"],
        &["versions", "app"],
        &["info", "app"],
    ] {
        problems.one_error("wrong key", wrong.pyk().args(args));
    }
    // Publishing a version that exists.
    let dir = app("again");
    let publisher = Client::new(&server);
    problems.one_error(
        "publish an existing version",
        publisher
            .pyk()
            .env("PYK_CACHE_DIR", build_cache())
            .current_dir(dir.path())
            .args(["publish", "--python", PY, "--version", "1"]),
    );
    // Untrusted: signed by a key this machine does not trust.
    let doubter = Client::new(&server);
    let stranger = pyk_crypto::sign::SigningKey::generate().unwrap();
    doubter.trust(&[&stranger.public().to_string()]);
    problems.one_error("untrusted signer", doubter.pyk().arg("app"));
    // A refusal: promoting a yanked version.
    ok(publisher.pyk().args(["yank", "app", "1", "--force"]));
    let line = problems.one_error(
        "promote a yanked version",
        publisher.pyk().args(["promote", "app", "1"]),
    );
    if line.matches("version 1").count() != 1 {
        problems
            .0
            .push(format!("the version is named twice: {line}"));
    }
    ok(publisher.pyk().args(["yank", "--undo", "app", "1"]));
    ok(publisher.pyk().args(["promote", "app", "1"]));

    // Damaged answers with nothing cached: a truncated manifest, a tampered blob.
    let truncate: mitm::OnResponse = Arc::new(|request, _, body| {
        if request.starts_with("GET /v1/packages/run/app ") {
            body.truncate(body.len() / 2);
        }
    });
    let flip: mitm::OnResponse = Arc::new(|request, _, body| {
        if request.starts_with("GET /v1/blobs/") && !body.is_empty() {
            let mid = body.len() / 2;
            body[mid] ^= 1;
        }
    });
    let cut: mitm::OnResponse = Arc::new(|request, _, body| {
        if request.starts_with("GET /v1/blobs/") && body.len() > 100 {
            body.truncate(body.len() - 50);
        }
    });
    for (what, rewrite) in [
        ("truncated manifest", truncate),
        ("tampered blob", flip),
        ("truncated blob", cut),
    ] {
        let through = mitm::proxy(&server.url, Arc::new(|_| {}), rewrite);
        for args in [
            &["app"][..],
            &["pull", "app", "-o", "out"],
            &["inspect", "app"],
        ] {
            problems.one_error(
                what,
                Client::new(&server)
                    .pyk()
                    .current_dir(here.path())
                    .env("PYK_SERVER", &through)
                    .args(args),
            );
        }
    }

    // The server down, nothing cached.
    let fresh = Client::new(&server);
    drop(server);
    for args in [
        &["app"][..],
        &["list"],
        &["versions", "app"],
        &["info", "app"],
        &["pull", "app"],
        &["inspect", "app"],
        &["exec", "app", "--", "x.py"],
    ] {
        problems.one_error(
            "server down",
            fresh.pyk().current_dir(here.path()).args(args),
        );
    }
    problems.check();
}

/// The serverless path: the same failures against a real bucket (SeaweedFS), read
/// directly.
#[test]
fn bucket_failures_are_one_line_each() {
    let Some(weed) = seaweedfs::shared() else {
        eprintln!("skipped: no SeaweedFS here (scripts/setup.sh installs it)");
        return;
    };
    let (_dir, server) = server();
    let mut problems = Problems::default();
    let client = Client::new(&server);
    let bucket = format!("s3://{}/error-tests", seaweedfs::BUCKET);
    let with = |cmd: &mut Command, endpoint: &str, secret: &str| {
        cmd.env("PYK_SERVER", &bucket)
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_ACCESS_KEY_ID", seaweedfs::ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", secret);
    };
    let here = tempfile::tempdir().unwrap();
    for (what, endpoint, secret) in [
        (
            "bucket: unknown package",
            weed.endpoint(),
            seaweedfs::SECRET_KEY,
        ),
        ("bucket: wrong secret", weed.endpoint(), "not the secret"),
        (
            "bucket: endpoint down",
            "http://127.0.0.1:9",
            seaweedfs::SECRET_KEY,
        ),
    ] {
        for args in [
            &["nosuch"][..],
            &["versions", "nosuch"],
            &["pull", "nosuch"],
        ] {
            let mut cmd = client.pyk();
            with(&mut cmd, endpoint, secret);
            problems.one_error(what, cmd.current_dir(here.path()).args(args));
        }
    }
    let mut cmd = client.pyk();
    with(&mut cmd, weed.endpoint(), "not the secret");
    problems.one_error(
        "bucket: push with a wrong secret",
        cmd.args(["push", "f", "1", "/etc/hostname"]),
    );
    problems.check();
}
