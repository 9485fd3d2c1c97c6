//! Trusting the repository (issue 9), end to end: a real `pyk serve` on 127.0.0.1, real
//! clients, and the attacks of the issue made for real: a man in the middle that
//! rewrites manifests or replays an old `latest`, an impostor server that holds the read
//! key, clocks an hour off, a config typo, a damaged blob, and a flood of slow uploads.

mod common;

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::mitm;
use common::repo::*;
use common::*;
use pyk_crypto::sign::SigningKey;
use pyk_crypto::{token, Key};
use pyk_protocol::api::Manifest;

/// The one line a refused command prints.
fn refusal(cmd: &mut Command) -> String {
    let err = fails(cmd);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    err
}

/// A publisher machine that signs with `key` (`None`: signs nothing).
fn publish_signed(server: &Server, dir: &Path, key: Option<&SigningKey>, args: &[&str]) {
    let publisher = Client::new(server);
    let mut cmd = publisher.pyk();
    match key {
        Some(key) => cmd.env("PYK_SIGNING_KEY", key.to_text()),
        None => cmd.env("PYK_SIGNING_KEY", "none"),
    };
    ok(cmd
        .env("PYK_CACHE_DIR", build_cache())
        .current_dir(dir)
        .args(["publish", "--python", PY])
        .args(args));
}

fn manifests_cached(client: &Client) -> Vec<PathBuf> {
    let dir = client.cache().join("packages/run");
    fs::read_dir(dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default()
}

#[test]
fn only_packages_signed_by_a_trusted_key_run() {
    let (_dir, server) = server();
    publish(&server, app("v1").path());
    let client = Client::new(&server);
    let out = run(client.pyk().arg("app"));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "v1 app 1\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "", "no warning");
    let versions = ok(client.pyk().args(["versions", "app"]));
    let ours = signing_key().public().to_string();
    assert!(
        versions.contains(&format!("signed {}", &ours[..24])),
        "{versions}"
    );

    // Another machine trusts another key: refused, in one line naming the signer.
    let other = SigningKey::generate().unwrap().public().to_string();
    let picky = Client::new(&server);
    picky.trust(&[&other]);
    let err = refusal(picky.pyk().arg("app"));
    assert!(
        err.contains(&format!(
            "is signed by {ours}, which this machine does not trust for run app"
        )),
        "{err}"
    );
    // A per-package list replaces the machine's.
    fs::write(
        picky.home.path().join("trust.toml"),
        format!("trusted = [\"{ours}\"]\n[trusted_for]\napp = [\"{other}\"]\n"),
    )
    .unwrap();
    refusal(picky.pyk().arg("app"));

    // No trusted keys at all: the first run pins the signer's key, quietly.
    let open = Client::new(&server);
    open.trust(&[]);
    let out = run(open.pyk().arg("app"));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "v1 app 1\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "", "no warning");

    // Unsigned: refused where keys are trusted. A machine with a trusted version runs
    // it, with one warning naming why; one with none fails in one line.
    publish_signed(&server, app("v2").path(), None, &[]);
    let out = run(client.pyk().arg("app"));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "v1 app 1\n");
    let warning = String::from_utf8_lossy(&out.stderr);
    assert!(
        warning.starts_with("pyk: warning: run app version 2 is not signed")
            && warning.trim().lines().count() == 1,
        "{warning}"
    );
    let err = refusal(Client::new(&server).pyk().arg("app"));
    assert!(err.contains("run app version 2 is not signed"), "{err}");
    assert_eq!(ok(client.pyk().arg("app@1")), "v1 app 1\n");

    // The Python hook checks too.
    let lib = project(&[
        ("pyk.toml", "name = \"mylib\"\nlib = \"mylib.py\"\n"),
        ("mylib.py", "X = 1\n"),
    ]);
    publish(&server, lib.path());
    ok(picky
        .pyk()
        .args(["python-setup", "--python", SYSTEM_PYTHON]));
    fs::write(
        picky.home.path().join("trust.toml"),
        format!("trusted = [\"{other}\"]\n"),
    )
    .unwrap();
    let err = String::from_utf8(run(picky.python().args(["-c", "from pyk import mylib"])).stderr)
        .unwrap();
    assert!(
        err.contains("ImportError") && err.contains(&format!("signed by {ours}")),
        "{err}"
    );
}

/// A warm run checks the cached version while it asks the server, with that version's
/// ETag: when the machine stops trusting its signer, the server's 304 must not run it (nor
/// end in an error about the 304); the answer is asked for again and refused.
#[test]
fn a_cached_version_whose_signer_is_no_longer_trusted_does_not_run() {
    let (_dir, server) = server();
    publish(&server, app("v1").path());
    let client = Client::new(&server);
    assert_eq!(ok(client.pyk().arg("app")), "v1 app 1\n");
    let ours = signing_key().public().to_string();
    let other = SigningKey::generate().unwrap().public().to_string();
    client.trust(&[&other]);
    let err = refusal(client.pyk().arg("app"));
    assert!(
        err.contains(&format!(
            "is signed by {ours}, which this machine does not trust for run app"
        )),
        "{err}"
    );
    // Trusted again: the cached version runs on the server's 304.
    client.trust(&[&ours]);
    let out = run(client.pyk().args(["-v", "app"]));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "v1 app 1\n");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("/v1/packages/run/app: 304 in "), "{log}");
}

#[test]
fn a_man_in_the_middle_cannot_substitute_code_or_poison_the_cache() {
    let (_dir, server) = server();
    publish(&server, app("v1").path());
    // Other code, genuinely signed by the trusted key, under another name.
    let evil = project(&[
        ("pyk.toml", "name = \"evil\"\nrun = \"evil.py\"\n"),
        ("evil.py", "print('evil code ran')\n"),
    ]);
    publish(&server, evil.path());
    let evil_manifest = fetch_manifest(&server, "evil");

    // The proxy swaps the bytes app's manifest names for evil's, keeping the rest.
    for whole in [false, true] {
        let swap = evil_manifest.clone();
        let through = mitm::proxy(
            &server.url,
            Arc::new(|_| {}),
            Arc::new(move |request, _, body| {
                if !request.starts_with("GET /v1/packages/run/app") || body.is_empty() {
                    return;
                }
                let Ok(mut m) = serde_json::from_slice::<Manifest>(body) else {
                    return;
                };
                if whole {
                    // Evil's own manifest and signatures, renamed.
                    let (name, version) = (m.name.clone(), m.version.clone());
                    m = swap.clone();
                    m.name = name;
                    m.version = version;
                } else {
                    m.artifact_sha256 = swap.artifact_sha256.clone();
                    m.blobs = swap.blobs.clone();
                    m.size = swap.size;
                }
                *body = serde_json::to_vec(&m).unwrap();
            }),
        );
        let victim = Client::new(&server);
        let err = refusal(victim.pyk().arg("app").env("PYK_SERVER", &through));
        assert!(
            err.contains("does not match its signature") && !err.contains("evil code"),
            "{err}"
        );
        // Nothing was kept: a pinned run asks again, and is refused again.
        assert_eq!(manifests_cached(&victim), Vec::<PathBuf>::new());
        let err = refusal(victim.pyk().arg("app@1").env("PYK_SERVER", &through));
        assert!(err.contains("does not match its signature"), "{err}");
        // The real server's answer runs.
        assert_eq!(ok(victim.pyk().arg("app@1")), "v1 app 1\n");
    }
}

/// The latest manifest of run package `name`, as the server sends it.
fn fetch_manifest(server: &Server, name: &str) -> Manifest {
    let path = format!("/v1/packages/run/{name}");
    let auth = token::authorization(&Key::from_config(KEY), "GET", &path, None);
    let mut stream = TcpStream::connect(server.url.trim_start_matches("http://")).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    std::io::Read::read_to_string(&mut stream, &mut reply).unwrap();
    serde_json::from_str(reply.split("\r\n\r\n").nth(1).unwrap()).unwrap()
}

#[test]
fn an_impostor_server_holding_the_read_key_is_refused() {
    let (_dir, server) = server();
    publish(&server, app("genuine").path());
    // Anyone with the read key can run a server and publish to it: with their own
    // signing key, or none.
    let (_other_dir, impostor) = common::repo::server();
    let theirs = SigningKey::generate().unwrap();
    publish_signed(&impostor, app("forged").path(), Some(&theirs), &[]);
    let client = Client::new(&server);
    assert_eq!(ok(client.pyk().arg("app")), "genuine app 1\n");
    // Refused: a machine with nothing cached fails in one line, one with the genuine
    // version runs it, with the refusal as its one warning.
    let fresh = Client::new(&server);
    let err = refusal(fresh.pyk().arg("app").env("PYK_SERVER", &impostor.url));
    assert!(
        err.contains(&format!("signed by {}", theirs.public())) && !err.contains("forged"),
        "{err}"
    );
    let out = run(client.pyk().arg("app").env("PYK_SERVER", &impostor.url));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "genuine app 1\n");
    let warning = String::from_utf8_lossy(&out.stderr);
    assert!(
        warning.contains(&format!("signed by {}", theirs.public()))
            && warning.trim().lines().count() == 1,
        "{warning}"
    );
    publish_signed(&impostor, app("forged").path(), None, &[]);
    let err = refusal(fresh.pyk().arg("app").env("PYK_SERVER", &impostor.url));
    assert!(err.contains("is not signed"), "{err}");
    assert_eq!(ok(client.pyk().arg("app")), "genuine app 1\n");
}

#[test]
fn a_replayed_old_latest_is_refused_and_a_signed_rollback_is_not() {
    let (_dir, server) = server();
    publish(&server, app("v1").path());
    // The proxy keeps the first latest manifest it relays, and hands it out again when
    // told to, in place of whatever the server says.
    let kept: Arc<Mutex<Option<Vec<u8>>>> = Arc::default();
    let replay = Arc::new(AtomicBool::new(false));
    let (k, r) = (kept.clone(), replay.clone());
    let through = mitm::proxy(
        &server.url,
        Arc::new(|_| {}),
        Arc::new(move |request, head, body| {
            if !request.starts_with("GET /v1/packages/run/app ") {
                return;
            }
            let mut kept = k.lock().unwrap();
            if kept.is_none() && !body.is_empty() {
                *kept = Some(body.clone());
            }
            if r.load(Ordering::SeqCst) {
                *head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n".into();
                *body = kept.clone().unwrap();
            }
        }),
    );
    let client = Client::new(&server);
    let pyk = || {
        let mut cmd = client.pyk();
        cmd.env("PYK_SERVER", &through).arg("app");
        cmd
    };
    assert_eq!(ok(&mut pyk()), "v1 app 1\n");
    publish(&server, app("v2").path());
    assert_eq!(ok(&mut pyk()), "v2 app 2\n");
    replay.store(true, Ordering::SeqCst);
    // Refused: the version this machine trusts runs, with one warning.
    let out = run(&mut pyk());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "v2 app 2\n");
    let warning = String::from_utf8_lossy(&out.stderr);
    assert!(
        warning.contains("refusing a rollback") && warning.trim().lines().count() == 1,
        "{warning}"
    );
    // A fresh machine has nothing to compare with: the old pointer is all it knows.
    // (The proxy holds whole bodies, blobs included: give it time on a busy machine.)
    let fresh = Client::new(&server);
    let out = ok(fresh
        .pyk()
        .arg("app")
        .env("PYK_SERVER", &through)
        .env("PYK_TIMEOUT", "30")
        .env("PYK_DEADLINE", "60"));
    assert_eq!(out, "v1 app 1\n");
    replay.store(false, Ordering::SeqCst);

    // A rollback its publisher signs is a new statement, and is taken.
    ok(client.pyk().args(["promote", "app", "1"]));
    assert_eq!(ok(&mut pyk()), "v1 app 1\n");
    // 2 was rolled back from: making it latest again takes --force.
    ok(client.pyk().args(["yank", "--force", "app", "1"]));
    assert_eq!(ok(&mut pyk()), "v2 app 2\n");
    ok(client
        .pyk()
        .args(["remove", "app", "--version", "2", "--force"]));
    let err = fails(&mut pyk());
    assert!(err.contains("no promoted version"), "{err}");
}

#[test]
fn a_clock_an_hour_off_is_told_in_one_line() {
    let (_dir, server) = server();
    publish(&server, app("v1").path());
    let key = Key::from_config(KEY);
    for (offset, way) in [(3600i64, "ahead of"), (-3600, "behind")] {
        // This machine's clock, as the proxy makes it: every token re-made for its time.
        let key = key.clone();
        let through = mitm::proxy(
            &server.url,
            Arc::new(move |head| {
                let line = head
                    .lines()
                    .find(|l| l.to_ascii_lowercase().starts_with("authorization:"))
                    .unwrap();
                let value = line.split_once(':').unwrap().1.trim();
                let claims = token::parse(value).unwrap().open(&key).unwrap();
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .as_secs();
                let shifted = token::authorization_at(
                    &key,
                    &claims.method,
                    &claims.target,
                    claims.body.as_ref(),
                    now.checked_add_signed(offset).unwrap(),
                );
                *head = head.replace(value, &shifted);
            }),
            Arc::new(|_, _, _| {}),
        );
        let client = Client::new(&server);
        let err = refusal(client.pyk().arg("list").env("PYK_SERVER", &through));
        assert!(
            err.contains(&format!("clock is 3600 s {way}"))
                || err.contains(&format!("clock is 3599 s {way}"))
                || err.contains(&format!("clock is 3601 s {way}")),
            "{err}"
        );
    }
}

#[test]
fn a_config_typo_is_an_error_and_serve_says_whether_writes_need_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    fs::write(&config, "key = \"read\"\n\nwrite-key = \"write\"\n").unwrap();
    let serve = |config: &Path| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pyk"));
        cmd.args(["serve", "--host", "127.0.0.1", "--port", "0"])
            .arg(dir.path().join("pyk.db"))
            .env("HOME", dir.path())
            .env("XDG_CONFIG_HOME", dir.path().join("none"))
            .env("PYK_CONFIG", config)
            .env_remove("PYK_KEY")
            .env_remove("PYK_WRITE_KEY");
        cmd
    };
    let err = refusal(&mut serve(&config));
    assert!(
        err.contains(&format!(
            "{}:3: unknown key `write-key` (did you mean `write_key`?)",
            config.display()
        )),
        "{err}"
    );
    for (text, says) in [
        (
            "key = \"read\"\nwrite_key = \"write\"\n",
            "writes need the write key (",
        ),
        ("key = \"read\"\n", "every reader can publish"),
    ] {
        fs::write(&config, text).unwrap();
        let mut child = serve(&config).stderr(Stdio::piped()).spawn().unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let banner = lines.next().unwrap().unwrap();
        let access = lines.next().unwrap().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(banner.starts_with("pyk: serving"), "{banner}");
        assert!(access.contains(says), "{access}");
        // Fingerprints only, never a key.
        assert!(!access.contains("read\"") && !access.contains(Key::from_config("read").as_str()));
    }
}

#[test]
fn publish_uploads_a_damaged_blob_again() {
    let (dir, server) = server();
    let source = app("v1");
    // One build time for both publishes, so the second one makes the same bytes (the
    // trailer records when it was built).
    let publisher = Client::new(&server);
    let publish = |version: &str| {
        let mut cmd = publisher.pyk();
        run(cmd
            .env("PYK_CACHE_DIR", build_cache())
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .current_dir(source.path())
            .args(["publish", "--python", PY, "--version", version]))
    };
    let first = publish("1");
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    // The smallest blob of the artifact is the trailer's (the API tree is a blob beside
    // the artifact's): damage one byte of it on the server.
    let tree = fetch_manifest(&server, "app").api.unwrap().sha256;
    let mut blobs: Vec<PathBuf> = fs::read_dir(dir.path().join("pyk.db/blobs"))
        .unwrap()
        .flat_map(|d| {
            fs::read_dir(d.unwrap().path())
                .unwrap()
                .map(|f| f.unwrap().path())
        })
        .filter(|p| !p.ends_with(&tree))
        .collect();
    blobs.sort_by_key(|p| fs::metadata(p).unwrap().len());
    let mut bytes = fs::read(&blobs[0]).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    fs::write(&blobs[0], &bytes).unwrap();
    // A fresh machine refuses the damaged blob.
    let err = fails(Client::new(&server).pyk().arg("app"));
    assert!(err.contains("refusing blob"), "{err}");

    // Publishing the same bytes again uploads that blob, though the server has a file of
    // its length, and repairs it.
    let out = publish("2");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(!said.contains("uploaded 0 B"), "{said}");
    assert_eq!(ok(Client::new(&server).pyk().arg("app@1")), "v1 app 1\n");
}

#[test]
fn slow_uploads_do_not_starve_readers() {
    let (_dir, server) = server();
    publish(&server, app("v1").path());
    let addr = server.url.trim_start_matches("http://").to_owned();
    let key = Key::from_config(KEY);
    // 512 uploads, each with its own token (a token opens one request), each sending its
    // head and a byte, then a byte every few seconds: as slow as the server allows.
    let flood: Vec<TcpStream> = (0..512u32)
        .map(|i| {
            let sha = pyk_protocol::Sha256::of(&i.to_be_bytes());
            let path = format!("/v1/blobs/{sha}");
            let auth = token::authorization(&key, "PUT", &path, Some(&sha));
            let mut s = TcpStream::connect(&addr).unwrap();
            write!(
                s,
                "PUT {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nContent-Length: 1000000\r\n\r\nP"
            )
            .unwrap();
            s
        })
        .collect();
    let done = Arc::new(AtomicBool::new(false));
    let trickle = {
        let done = done.clone();
        let mut flood: Vec<TcpStream> = flood.iter().map(|s| s.try_clone().unwrap()).collect();
        std::thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                for s in &mut flood {
                    let _ = s.write_all(b"Y");
                }
                std::thread::sleep(Duration::from_secs(5));
            }
        })
    };
    std::thread::sleep(Duration::from_secs(2));
    // Readers: the list, the versions, first runs (manifest and blob downloads).
    let reader = Client::new(&server);
    let timed = |cmd: &mut Command| {
        let start = Instant::now();
        let out = ok(cmd);
        (out, start.elapsed())
    };
    for round in 0..2 {
        let (list, took) = timed(reader.pyk().arg("list"));
        assert!(list.contains("app"), "{list}");
        assert!(took < Duration::from_secs(10), "list {round}: {took:?}");
        let (_, took) = timed(reader.pyk().args(["versions", "app"]));
        assert!(took < Duration::from_secs(10), "versions {round}: {took:?}");
        let (out, took) = timed(Client::new(&server).pyk().arg("app"));
        assert_eq!(out, "v1 app 1\n");
        assert!(
            took < Duration::from_secs(20),
            "first run {round}: {took:?}"
        );
    }
    done.store(true, Ordering::SeqCst);
    trickle.join().unwrap();
    drop(flood);
}
