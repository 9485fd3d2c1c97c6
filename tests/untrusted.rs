//! Answers that cannot be trusted (issue 18), end to end against a real `pyk serve`, with
//! a man in the middle (`common::mitm`) where the run had one: a far-future
//! `latest` that would freeze clients, a publisher lied to about where `latest` stands,
//! server errors, damaged bodies and blobs, unsigned moves, and servers that trickle. A
//! machine with a trusted version runs it, with one warning naming the cause; one with
//! nothing cached fails in one line.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::mitm;
use common::repo::*;
use common::*;
use pyk_crypto::{token, Key};
use pyk_protocol::api::{LatestPointer, Manifest, PromoteRequest};
use pyk_protocol::statement::{now_ms, LatestStatement, MAX_LEAD_MS};
use pyk_protocol::Kind;

const TEN_YEARS_MS: u64 = 10 * 365 * 86_400 * 1000;

/// One request to the server with a token for it; returns the status line and body.
fn request(server: &Server, method: &str, path: &str, body: &[u8]) -> (String, Vec<u8>) {
    let key = Key::from_config(KEY);
    let field = pyk_protocol::request::body_field(method, path, body);
    let auth = token::authorization(&key, method, path, field.as_ref());
    let mut stream = TcpStream::connect(server.url.trim_start_matches("http://")).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(body).unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).unwrap();
    let split = reply.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&reply[..split]);
    (
        head.lines().next().unwrap().to_owned(),
        reply[split + 4..].to_vec(),
    )
}

fn manifest(server: &Server, path: &str) -> Manifest {
    let (status, body) = request(server, "GET", path, b"");
    assert!(status.contains(" 200 "), "{status}");
    serde_json::from_slice(&body).unwrap()
}

/// A latest pointer to `version` of run package app, signed by the publishers' key.
fn pointer(version: &str, issued: u64) -> LatestPointer {
    let statement = LatestStatement {
        kind: Kind::Run,
        name: "app",
        version,
        issued,
    };
    LatestPointer {
        version: version.to_owned(),
        issued,
        signature: signing_key().sign(&statement).unwrap(),
    }
}

/// The program ran the cached version `expect`, and said why in one warning holding
/// `cause`.
fn ran_cached(out: &Output, expect: &str, cause: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), expect, "{stderr}");
    assert!(
        stderr.starts_with("pyk: warning: ")
            && stderr.contains(cause)
            && stderr.contains("running the cached app version"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

/// The one line a refused command prints.
fn refusal(cmd: &mut Command) -> String {
    let err = fails(cmd);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    err
}

fn floor(client: &Client) -> String {
    fs::read_to_string(client.cache().join("trust-v1/run/app")).unwrap()
}

#[test]
fn a_publisher_lied_to_about_latest_signs_nothing_in_the_future() {
    let (_dir, server) = server();
    for v in ["v1", "v2", "v3"] {
        publish(&server, app(v).path());
    }
    let client = Client::new(&server);
    assert_eq!(ok(client.pyk().arg("app")), "v3 app 3\n");

    // The report's attack: the last move of latest claimed ten years ahead, every
    // version but 1 yanked, and the yank answered 503.
    let writes = Arc::new(AtomicUsize::new(0));
    let w = writes.clone();
    let through = mitm::proxy(
        &server.url,
        Arc::new(move |head| {
            if !head.starts_with("GET ") {
                w.fetch_add(1, Ordering::SeqCst);
            }
        }),
        Arc::new(|request, head, body| {
            if request.starts_with("GET /v1/packages/run/app/next ") {
                let mut next: serde_json::Value = serde_json::from_slice(body).unwrap();
                next["latest_issued"] = (now_ms() + TEN_YEARS_MS).into();
                *body = serde_json::to_vec(&next).unwrap();
            } else if request.starts_with("GET /v1/packages/run/app/versions ") {
                let mut list: serde_json::Value = serde_json::from_slice(body).unwrap();
                for v in list["versions"].as_array_mut().unwrap() {
                    v["yanked"] = (v["version"] != "1").into();
                }
                *body = serde_json::to_vec(&list).unwrap();
            } else if request.starts_with("POST ") {
                *head = "HTTP/1.1 503 Service Unavailable\r\n\r\n".into();
                body.clear();
            }
        }),
    );
    let err = refusal(
        client
            .pyk()
            .env("PYK_SERVER", &through)
            .args(["yank", "app", "3"]),
    );
    assert!(
        err.contains("ahead of this machine's clock: refusing to sign a later one"),
        "{err}"
    );
    assert_eq!(writes.load(Ordering::SeqCst), 0, "nothing was sent to sign");
    let latest = manifest(&server, "/v1/packages/run/app");
    assert_eq!(latest.version, "3");
    assert!(latest.latest.unwrap().issued <= now_ms());
    assert_eq!(ok(client.pyk().arg("app")), "v3 app 3\n");
}

#[test]
fn a_yank_moves_latest_only_to_a_version_its_publisher_verified() {
    let (_dir, server) = server();
    publish(&server, app("v1").path());
    // Version 2 is unsigned (any write-key holder could publish it), 3 is signed.
    let unsigned = Client::new(&server);
    ok(unsigned
        .pyk()
        .env("PYK_SIGNING_KEY", "none")
        .env("PYK_CACHE_DIR", build_cache())
        .current_dir(app("v2").path())
        .args(["publish", "--python", PY, "--no-promote"]));
    publish(&server, app("v3").path());
    // The newest version left is 2, which no key signed: the publisher does not sign
    // a move to it (and the server would take no move to another); latest stays.
    let publisher = Client::new(&server);
    let err = refusal(publisher.pyk().args(["yank", "app", "3"]));
    assert!(
        err.contains("would move to version 2, which this publisher does not sign a move to")
            && err.contains("run app version 2 is not signed"),
        "{err}"
    );
    let latest = manifest(&server, "/v1/packages/run/app");
    assert_eq!(latest.version, "3", "{latest:?}");
    assert!(!latest.yanked);
    let pointer = latest.latest.unwrap();
    assert_eq!(pointer.version, "3");
    assert!(pointer.issued <= now_ms() + MAX_LEAD_MS);
}

#[test]
fn a_far_future_pointer_is_refused_and_a_poisoned_record_is_reset() {
    let (_dir, server) = server();
    publish(&server, app("v1").path());
    publish(&server, app("v2").path());
    let client = Client::new(&server);
    assert_eq!(ok(client.pyk().arg("app")), "v2 app 2\n");
    let accepted = floor(&client);

    // Version 1 with a genuinely signed pointer dated ten years ahead: what the
    // report's attacker obtained from the publisher.
    let mut forged = manifest(&server, "/v1/packages/run/app/versions/1");
    let future = pointer("1", now_ms() + TEN_YEARS_MS);
    forged.latest = Some(future.clone());
    let forged = serde_json::to_vec(&forged).unwrap();
    let through = mitm::proxy(
        &server.url,
        Arc::new(|_| {}),
        Arc::new(move |request, head, body| {
            if request.starts_with("GET /v1/packages/run/app ") {
                *head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n".into();
                *body = forged.clone();
            }
        }),
    );
    let out = run(client.pyk().env("PYK_SERVER", &through).arg("app"));
    ran_cached(&out, "v2 app 2\n", "ahead of this machine's clock");
    assert_eq!(
        floor(&client),
        accepted,
        "a future pointer is never remembered"
    );
    // A machine with nothing cached refuses it in one line.
    let err = refusal(
        Client::new(&server)
            .pyk()
            .env("PYK_SERVER", &through)
            .arg("app"),
    );
    assert!(err.contains("ahead of this machine's clock"), "{err}");

    // The server refuses to store one.
    let promote = serde_json::to_vec(&PromoteRequest {
        version: "1".into(),
        latest: Some(future),
    })
    .unwrap();
    let (status, body) = request(&server, "POST", "/v1/packages/run/app/promote", &promote);
    assert!(status.contains(" 400 "), "{status}");
    let said = String::from_utf8_lossy(&body);
    assert!(said.contains("ahead of this server's clock"), "{said}");

    // A record an older pyk kept: every genuine update looks like a rollback, the
    // cached version runs, and the warning names the way out.
    fs::write(
        client.cache().join("trust-v1/run/app"),
        format!("{} 1\n", now_ms() + TEN_YEARS_MS),
    )
    .unwrap();
    publish(&server, app("v3").path());
    let out = run(client.pyk().arg("app"));
    ran_cached(&out, "v2 app 2\n", "`pyk trust reset app` forgets it");
    let said = ok(client.pyk().args(["trust", "reset", "app"]));
    assert!(said.contains("forgot the latest of run app"), "{said}");
    let out = run(client.pyk().arg("app"));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "v3 app 3\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    let (issued, version) = floor(&client)
        .trim()
        .split_once(' ')
        .map(|(i, v)| (i.parse::<u64>().unwrap(), v.to_owned()))
        .unwrap();
    assert!(issued <= now_ms() && version == "3", "{issued} {version}");
    let said = ok(client.pyk().args(["trust", "reset", "app", "--lib"]));
    assert!(said.contains("remembers no latest of lib app"), "{said}");
}

/// A response rewritten to `status` with an HTML body, as a reverse proxy or captive
/// portal sends.
fn html(status: &str) -> mitm::OnResponse {
    let status = status.to_owned();
    Arc::new(move |request, head, body| {
        if request.starts_with("GET /v1/packages/run/app ") {
            *head = format!("HTTP/1.1 {status}\r\ncontent-type: text/html\r\n\r\n");
            *body = b"<html>\n<body><h1>Sign in to the network</h1></body>\n</html>\n".to_vec();
        }
    })
}

#[test]
fn the_cached_version_runs_whenever_the_answer_cannot_be_trusted() {
    let (_dir, server) = server();
    publish(&server, app("v1").path());
    let client = Client::new(&server);
    assert_eq!(ok(client.pyk().arg("app")), "v1 app 1\n");
    publish(&server, app("v2").path());

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
    let cases = [
        (html("500 Internal Server Error"), "says 500: <html>"),
        (html("502 Bad Gateway"), "says 502: <html>"),
        (html("503 Service Unavailable"), "says 503: <html>"),
        (html("504 Gateway Timeout"), "says 504: <html>"),
        (truncate, "not a reply pyk can read"),
        (html("200 OK"), "not a reply pyk can read"),
        // Last: the layers that did arrive whole are kept (verified), the rest is not.
        (flip, "refusing blob"),
    ];
    for (rewrite, cause) in cases {
        let through = mitm::proxy(&server.url, Arc::new(|_| {}), rewrite.clone());
        let out = run(client.pyk().env("PYK_SERVER", &through).arg("app"));
        ran_cached(&out, "v1 app 1\n", cause);
        // With nothing cached: one line.
        let err = refusal(
            Client::new(&server)
                .pyk()
                .env("PYK_SERVER", &through)
                .arg("app"),
        );
        assert!(err.contains(cause), "{err}");
    }

    // A write-key holder who cannot sign yanks the latest: the move is unsigned.
    assert_eq!(ok(client.pyk().arg("app")), "v2 app 2\n");
    let holder = Client::new(&server);
    ok(holder
        .pyk()
        .env("PYK_SIGNING_KEY", "none")
        .args(["yank", "app", "2"]));
    assert_eq!(manifest(&server, "/v1/packages/run/app").version, "1");
    let out = run(client.pyk().arg("app"));
    ran_cached(&out, "v2 app 2\n", "is not signed");
    let err = refusal(Client::new(&server).pyk().arg("app"));
    assert!(err.contains("is not signed"), "{err}");
}

/// A proxy that sends the responses to requests starting with `slow` at one byte a
/// second: never silent long enough for a per-read timeout.
fn trickle(server: &Server, slow: &'static str) -> String {
    mitm::paced(
        &server.url,
        Arc::new(|_| {}),
        Arc::new(|_, _, _| {}),
        Arc::new(move |request| request.starts_with(slow).then_some(Duration::from_secs(1))),
    )
}

#[test]
fn a_server_that_trickles_is_given_up_on_at_the_deadline() {
    let (_dir, server) = server();
    publish(&server, app("v1").path());
    let lib = |x: &str| {
        project(&[
            ("pyk.toml", "name = \"mylib\"\nlib = \"mylib.py\"\n"),
            ("mylib.py", &format!("X = {x}\n")),
        ])
    };
    publish(&server, lib("1").path());
    let client = Client::new(&server);
    assert_eq!(ok(client.pyk().arg("app")), "v1 app 1\n");
    ok(client
        .pyk()
        .args(["python-setup", "--python", SYSTEM_PYTHON]));
    let import = |through: Option<&str>| {
        let mut cmd = client.python();
        if let Some(url) = through {
            cmd.env("PYK_SERVER", url);
        }
        cmd.env("PYK_DEADLINE", "2")
            .args(["-c", "from pyk import mylib; print(mylib.X)"]);
        cmd
    };
    assert_eq!(ok(&mut import(None)), "1\n");
    publish(&server, app("v2").path());
    publish(&server, lib("2").path());

    // The answer about latest trickles: the check's deadline ends it.
    let through = trickle(&server, "GET /v1/packages/");
    let started = Instant::now();
    let out = run(client
        .pyk()
        .env("PYK_SERVER", &through)
        .env("PYK_DEADLINE", "2")
        .arg("app"));
    let took = started.elapsed();
    ran_cached(&out, "v1 app 1\n", "within its 2.0 s deadline");
    assert!(took < Duration::from_secs(8), "{took:?}");

    // `from pyk import` keeps the same bound.
    let started = Instant::now();
    let out = run(&mut import(Some(&through)));
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1\n");
    assert!(
        stderr.contains("warning") && stderr.contains("within its 2.0 s deadline"),
        "{stderr}"
    );
    assert!(took < Duration::from_secs(8), "{took:?}");

    // The manifest comes at once, the blobs trickle: each download's deadline (the
    // check's plus its size at the minimum rate) ends it.
    let through = trickle(&server, "GET /v1/blobs/");
    let started = Instant::now();
    let out = run(client
        .pyk()
        .env("PYK_SERVER", &through)
        .env("PYK_DEADLINE", "1")
        .env("PYK_MIN_RATE", "1MiB")
        .arg("app"));
    let took = started.elapsed();
    ran_cached(&out, "v1 app 1\n", "deadline");
    assert!(took < Duration::from_secs(8), "{took:?}");
}

#[test]
fn the_file_pull_writes_is_the_one_its_publisher_signed() {
    let (_dir, server) = server();
    let named = project(&[
        (
            "pyk.toml",
            "name = \"app\"\nrun = \"app.py\"\nlocalname = \"app.bin\"\n",
        ),
        ("app.py", "print('v1')\n"),
    ]);
    publish(&server, named.path());
    let client = Client::new(&server);
    let pull = |through: &str, dir: &std::path::Path| {
        let mut cmd = client.pyk();
        cmd.env("PYK_SERVER", through)
            .args(["pull", "app"])
            .current_dir(dir);
        cmd
    };
    let here = tempfile::tempdir().unwrap();
    ok(&mut pull(&server.url, here.path()));
    assert!(here.path().join("app.bin").is_file());

    // A man in the middle names another file: the package's local name (unsigned) is
    // not heeded, and the signed one cannot be changed.
    for signed in [false, true] {
        let through = mitm::proxy(
            &server.url,
            Arc::new(|_| {}),
            Arc::new(move |request, _, body| {
                if !request.starts_with("GET /v1/packages/run/app") || body.is_empty() {
                    return;
                }
                let mut json: serde_json::Value = serde_json::from_slice(body).unwrap();
                json["localname"] = ".bashrc".into();
                if signed && json.get("signed_localname").is_some() {
                    json["signed_localname"] = ".bashrc".into();
                }
                *body = serde_json::to_vec(&json).unwrap();
            }),
        );
        let there = tempfile::tempdir().unwrap();
        let out = run(&mut pull(&through, there.path()));
        assert!(!there.path().join(".bashrc").exists());
        if signed {
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains("does not match its signature"), "{err}");
        } else {
            assert!(out.status.success());
            assert!(there.path().join("app.bin").is_file());
        }
    }
}
