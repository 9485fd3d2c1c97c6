//! The repository on S3 end to end (SeaweedFS, started by this test process): two
//! `pyk serve` processes on one bucket, a serverless client and publisher, and
//! `pyk migrate` between a directory store and a bucket, killed half-way and run again.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::repo::*;
use common::*;
use pyk_protocol::api::Manifest;
use pyk_s3::seaweedfs;
use pyk_server::store::{Store, StoreConfig};

fn store_url(test: &str) -> String {
    format!("s3://{}/cli-tests/{test}", seaweedfs::BUCKET)
}

/// A machine talking to `url` (a server, or a bucket) that signs with the test key and
/// trusts it, as every test machine does.
fn machine(url: &str) -> Client {
    let client = Client {
        home: tempfile::tempdir().unwrap(),
        url: url.to_owned(),
        key: KEY.into(),
        write_key: None,
    };
    client.trust(&[&signing_key().public().to_string()]);
    client
}

fn pyk(client: &Client, aws: &[(&str, String)]) -> Command {
    let mut cmd = client.pyk();
    cmd.envs(aws.iter().cloned());
    cmd
}

/// `pyk publish` of `dir` from a fresh publisher machine sharing the build cache.
fn publish_to(url: &str, aws: &[(&str, String)], dir: &Path, args: &[&str]) -> String {
    let publisher = machine(url);
    let out = run(pyk(&publisher, aws)
        .env("PYK_CACHE_DIR", build_cache())
        .current_dir(dir)
        .args(["publish", "--python", PY])
        .args(args));
    assert!(
        out.status.success(),
        "publish failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn publish_through_one_server_run_through_another() {
    let Some(aws) = aws() else { return };
    let store = store_url("two");
    let (a, b) = (S3Server::start(&store, &aws), S3Server::start(&store, &aws));
    publish_to(&a.url, &aws, app("v1").path(), &[]);
    let through_b = machine(&b.url);
    assert_eq!(ok(pyk(&through_b, &aws).args(["app", "x"])), "v1 app 1 x\n");
    publish_to(&a.url, &aws, app("v2").path(), &[]);

    // A watcher on A learns of a rollback made through B.
    let through_a = machine(&a.url);
    let mut watch = pyk(&through_a, &aws);
    let watcher = std::thread::spawn(move || {
        let start = Instant::now();
        (ok(watch.args(["watch", "app", "--once"])), start.elapsed())
    });
    std::thread::sleep(Duration::from_millis(500));
    ok(pyk(&through_b, &aws).args(["promote", "app", "1"]));
    let (said, waited) = watcher.join().unwrap();
    assert!(said.contains("version 1"), "{said}");
    assert!(waited < Duration::from_secs(6), "{waited:?}");
    assert_eq!(ok(pyk(&through_a, &aws).args(["app", "y"])), "v1 app 1 y\n");
}

#[test]
fn a_serverless_client_runs_imports_and_pulls_from_the_bucket() {
    let Some(aws) = aws() else { return };
    let bucket = store_url("serverless");
    // Published straight to the bucket: no server anywhere.
    let v1 = app("v1");
    let said = publish_to(&bucket, &aws, v1.path(), &["--version", "1.0"]);
    assert!(said.contains(&format!("to {bucket}")), "{said}");
    let lib = project(&[
        ("pyk.toml", "name = \"mylib\"\nlib = \"mylib\"\n"),
        ("mylib/__init__.py", "def square(x):\n    return x * x\n"),
    ]);
    publish_to(&bucket, &aws, lib.path(), &[]);

    let client = machine(&bucket);
    let out = run(pyk(&client, &aws).args(["app", "a"]));
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "v1 app 1.0 a\n",
        "{said}"
    );
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!said.contains("warning"), "{said}");
    // Signed in the bucket as through a server: a machine trusting another key refuses.
    let picky = machine(&bucket);
    picky.trust(&["pyk-ed25519:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"]);
    let err = fails(pyk(&picky, &aws).arg("app"));
    assert!(err.contains("does not trust"), "{err}");
    ok(pyk(&client, &aws).args(["python-setup", "--python", SYSTEM_PYTHON]));
    let mut python = client.python();
    python.envs(aws.iter().cloned());
    assert_eq!(
        ok(python.args(["-c", "from pyk import mylib; print(mylib.square(7))"])),
        "49\n"
    );
    // A second version, then the first pulled by version: byte for byte what was built.
    publish_to(&bucket, &aws, app("v2").path(), &["--version", "2.0"]);
    assert_eq!(ok(pyk(&client, &aws).args(["app"])), "v2 app 2.0\n");
    let out = client.home.path().join("app-1.0");
    ok(pyk(&client, &aws)
        .args(["pull", "app", "--version", "1.0", "-o"])
        .arg(&out));
    assert!(
        std::fs::read(&out).unwrap() == std::fs::read(v1.path().join("dist/app")).unwrap(),
        "the pulled 1.0 differs from the file its publish built"
    );
    let listing = ok(pyk(&client, &aws).arg("list"));
    assert!(
        listing.contains("app") && listing.contains("mylib"),
        "{listing}"
    );

    // The bucket unreachable: the cached copy runs, with a warning.
    let mut dead = aws.clone();
    dead[0].1 = "http://127.0.0.1:9".into();
    let out = run(pyk(&client, &dead).args(["app", "b"]));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "v2 app 2.0 b\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("warning") && err.contains("cached"), "{err}");
}

/// A bucket reader has no server to vouch for anything, and anyone with the bucket's
/// write credentials can rewrite its objects: signatures are what it believes. The
/// signed move that set `latest` is kept in the index and checked like a server's; a
/// replayed old index is a rollback; a moved `latest` nobody signed, and a version
/// object changed after it was signed, are refused, fresh or pinned.
#[test]
fn a_bucket_reader_believes_signatures_not_the_bucket() {
    let Some(aws) = aws() else { return };
    let bucket = store_url("signed");
    let weed = seaweedfs::shared().unwrap().bucket();
    let object = |path: &str| format!("cli-tests/signed/packages/run/app/{path}");
    let get = |path: &str| match weed.get_bytes(&object(path), None).unwrap() {
        pyk_s3::Fetched::Found { bytes, .. } => bytes,
        other => panic!("{path}: {other:?}"),
    };
    let put = |path: &str, bytes: &[u8]| {
        weed.put(&object(path), bytes, pyk_s3::Condition::Always)
            .unwrap();
    };
    publish_to(&bucket, &aws, app("v1").path(), &[]);
    let old_index = get("index.json");
    publish_to(&bucket, &aws, app("v2").path(), &[]);
    let index = get("index.json");
    let parsed: serde_json::Value = serde_json::from_slice(&index).unwrap();
    assert_eq!(parsed["latest"], "2", "{parsed}");
    assert_eq!(parsed["pointer"]["version"], "2", "{parsed}");
    let client = machine(&bucket);
    assert_eq!(ok(pyk(&client, &aws).arg("app")), "v2 app 2\n");

    // The index as it was after version 1: genuinely signed, and old.
    put("index.json", &old_index);
    // Refused: the version this machine trusts runs, with one warning.
    let out = run(pyk(&client, &aws).arg("app"));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "v2 app 2\n");
    let warning = String::from_utf8_lossy(&out.stderr);
    assert!(warning.contains("refusing a rollback"), "{warning}");
    // `latest` moved by someone who cannot sign: the pointer kept names another version.
    let mut moved = parsed.clone();
    moved["latest"] = "1".into();
    put("index.json", &serde_json::to_vec(&moved).unwrap());
    let err = fails(pyk(&machine(&bucket), &aws).arg("app"));
    assert!(err.contains("is not signed"), "{err}");
    put("index.json", &index);

    // Version 2's object rewritten to name version 1's (genuinely signed) bytes.
    let v1: Manifest = serde_json::from_slice(&get("versions/1.json")).unwrap();
    let genuine = get("versions/2.json");
    let mut v2: Manifest = serde_json::from_slice(&genuine).unwrap();
    v2.artifact_sha256 = v1.artifact_sha256;
    v2.blobs = v1.blobs;
    v2.size = v1.size;
    put("versions/2.json", &serde_json::to_vec(&v2).unwrap());
    let fresh = machine(&bucket);
    for args in [&["app"][..], &["app@2"], &["pull", "app", "--version", "2"]] {
        let err = fails(pyk(&fresh, &aws).args(args).current_dir(fresh.home.path()));
        assert!(
            err.contains("does not match its signature"),
            "{args:?}: {err}"
        );
    }
    put("versions/2.json", &genuine);
    assert_eq!(ok(pyk(&fresh, &aws).arg("app")), "v2 app 2\n");
}

/// Every package of a store as a comparable whole: records and blob bytes.
fn contents(config: &StoreConfig) -> Vec<String> {
    let store = Store::open(config).unwrap();
    let mut out = Vec::new();
    for (kind, name) in store.registry().packages().unwrap() {
        let record = store.registry().export(kind, &name).unwrap();
        for m in &record.versions {
            for blob in &m.blobs {
                let mut bytes = Vec::new();
                let sha = blob.sha256.parse().unwrap();
                let mut read = store.blobs().read(&sha).unwrap().unwrap();
                std::io::Read::read_to_end(&mut read.reader, &mut bytes).unwrap();
                out.push(format!("{} {}", blob.sha256, sha256_hex(&bytes)));
            }
        }
        out.push(format!("{kind} {name} {record:?}"));
    }
    out
}

fn sha256_hex(bytes: &[u8]) -> String {
    pyk_protocol::Sha256::of(bytes).to_string()
}

fn migrate_cmd(home: &Path, aws: &[(&str, String)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pyk"));
    cmd.env("PYK_KEY", KEY)
        .env("HOME", home)
        .envs(aws.iter().cloned())
        .arg("migrate");
    cmd
}

#[test]
fn migration_embedded_to_s3_to_embedded_is_identical_even_when_killed() {
    let Some(aws) = aws() else { return };
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first.db");
    let back = dir.path().join("back.db");
    let bucket = store_url("migrate");
    {
        let server = Server::start(&first, 0);
        let publisher = Client::new(&server);
        let push = |name: &str, version: &str, bytes: &[u8], promote: bool| {
            let file = dir.path().join(format!("{name}-{version}"));
            std::fs::write(&file, bytes).unwrap();
            let mut cmd = publisher.pyk();
            cmd.args(["push", name, version]).arg(&file);
            if promote {
                cmd.arg("--promote");
            }
            ok(&mut cmd);
        };
        push("a-small", "1", b"one", true);
        push("a-small", "2", b"two", false);
        ok(publisher.pyk().args(["yank", "a-small", "2"]));
        ok(publisher.pyk().args(["init", "a-small", "small.bin"]));
        // Big enough to be mid-copy when the migration is killed.
        let big: Vec<u8> = (0..48u32 << 20)
            .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
            .collect();
        push("b-big", "1", &big, true);
        push("c-gone", "1", b"gone", true);
        ok(publisher.pyk().args(["remove", "c-gone", "--yes"]));
    }
    let embedded = |path: &Path| StoreConfig::Embedded {
        path: path.to_owned(),
    };
    let err = fails(
        migrate_cmd(dir.path(), &aws)
            .arg(dir.path().join("typo.db"))
            .arg(&bucket),
    );
    assert!(err.contains("no store there"), "{err}");

    // Killed once the first package is in the bucket, while the big blob streams.
    let mut child = migrate_cmd(dir.path(), &aws)
        .arg(&first)
        .arg(&bucket)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let weed = seaweedfs::shared().unwrap().bucket();
    let index = "cli-tests/migrate/packages/run/a-small/index.json";
    let start = Instant::now();
    while weed.head(index).unwrap().is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "a-small never arrived"
        );
        assert!(child.try_wait().unwrap().is_none(), "migrate ended early");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        weed.head("cli-tests/migrate/packages/run/b-big/index.json")
            .unwrap()
            .is_none(),
        "the kill came too late to test anything"
    );

    let said = ok(migrate_cmd(dir.path(), &aws).arg(&first).arg(&bucket));
    assert!(said.contains("3 package(s)"), "{said}");
    // Idempotent: nothing left to copy.
    let said = ok(migrate_cmd(dir.path(), &aws).arg(&first).arg(&bucket));
    assert!(said.contains("0 blob(s) copied"), "{said}");
    ok(migrate_cmd(dir.path(), &aws).arg(&bucket).arg(&back));
    let settings = pyk_s3::Settings {
        endpoint: Some(aws[0].1.clone()),
        path_style: true,
        credentials: seaweedfs::shared().unwrap().settings().credentials,
        ..pyk_s3::Settings::new(seaweedfs::BUCKET)
    };
    let in_bucket = StoreConfig::S3 {
        settings,
        location: pyk_s3::Location::parse(&bucket).unwrap().unwrap(),
        mode: pyk_s3::repo::ModeSetting::Probe,
    };
    let original = contents(&embedded(&first));
    assert_eq!(original.len(), 6, "{original:#?}");
    // When versions were made latest is copied too (what retention reads).
    assert!(
        original.iter().any(|l| l.contains("promoted: {\"1\": ")),
        "{original:#?}"
    );
    assert_eq!(contents(&in_bucket), original);
    assert_eq!(contents(&embedded(&back)), original);
}

/// Promotes version 1 of `app` after yanking it, on the repository at `url` (a server
/// or a bucket): the exit code and stderr of the refused promote.
fn promote_yanked(url: &str, aws: &[(&str, String)]) -> (Option<i32>, String) {
    publish_to(url, aws, app("v1").path(), &["--version", "1"]);
    publish_to(url, aws, app("v2").path(), &["--version", "2"]);
    let publisher = machine(url);
    ok(pyk(&publisher, aws).args(["yank", "app", "1"]));
    let out = run(pyk(&publisher, aws).args(["promote", "app", "1"]));
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).replace(url, "REPO"),
    )
}

#[test]
fn a_refusal_reads_the_same_through_a_server_and_against_a_bucket() {
    let Some(aws) = aws() else { return };
    // The server keeps its own (embedded) store: its refusal is the SQLite registry's,
    // the bucket's is the bucket's, worded by the one enum both use.
    let (_dir, server) = server();
    let through_server = promote_yanked(&server.url, &aws);
    let against_bucket = promote_yanked(&store_url("refusal"), &aws);
    assert_eq!(through_server, against_bucket);
    assert_eq!(through_server.0, Some(1));
    assert!(
        through_server
            .1
            .contains("is yanked: make it eligible again with `pyk yank --undo`"),
        "{}",
        through_server.1
    );
}

/// A publish request a repository refuses, however well formed its JSON: what a
/// client of a newer pyk (a format this one does not know) or a hand-made one sends.
fn bad_requests() -> Vec<(&'static str, pyk_protocol::api::PublishRequest)> {
    let sha = "ab".repeat(32);
    let good = pyk_protocol::api::PublishRequest {
        version: Some("1".into()),
        artifact_sha256: sha.clone(),
        size: 10,
        python: "3.11".into(),
        blobs: vec![pyk_protocol::api::BlobRef {
            sha256: sha.clone(),
            size: 10,
        }],
        promote: true,
        format: "pyk".into(),
        executable: true,
        signed_localname: None,
        signature: None,
        latest: None,
        api: None,
        platforms: Vec::new(),
    };
    vec![
        (
            "a format too new",
            pyk_protocol::api::PublishRequest {
                format: "pyk2".into(),
                ..good.clone()
            },
        ),
        (
            "a Python that is not one",
            pyk_protocol::api::PublishRequest {
                python: "3".into(),
                ..good.clone()
            },
        ),
        (
            "a size that is not the blobs' sum",
            pyk_protocol::api::PublishRequest {
                size: 11,
                ..good.clone()
            },
        ),
    ]
}

/// What `pyk` prints for a client error: `pyk: error: ` and the chain on one line.
fn as_printed(e: pyk_client::Error) -> String {
    format!("pyk: error: {:#}", anyhow::Error::from(e))
}

#[test]
fn a_serverless_publish_a_server_would_refuse_is_refused_alike() {
    if aws().is_none() {
        return;
    }
    let key = pyk_crypto::Key::from_config(KEY);
    let (_dir, server) = server();
    let http = pyk_client::Client::new(&server.url, &key, &key, "test", Duration::from_secs(10));
    let url = store_url("bad-publish");
    let location = pyk_s3::Location::parse(&url).unwrap().unwrap();
    let bucket = pyk_client::Client::serverless(
        seaweedfs::shared().unwrap().bucket(),
        location,
        pyk_s3::repo::ModeSetting::Probe,
        &key,
        "test",
    );
    let package = pyk_protocol::PackageRef::new(pyk_protocol::Kind::Run, "bad").unwrap();
    for (what, request) in bad_requests() {
        let from_server = as_printed(http.publish(&package, &request).unwrap_err());
        let from_bucket = as_printed(bucket.publish(&package, &request).unwrap_err());
        assert_eq!(from_server, from_bucket, "{what}");
        assert!(
            from_server.contains("invalid publish request"),
            "{what}: {from_server}"
        );
        // Nothing of it was written.
        let e = bucket.versions(&package).unwrap_err();
        assert!(
            matches!(e, pyk_client::Error::NotFound { .. }),
            "{what}: {e}"
        );
    }
    // More blobs than a manifest may list: a server's JSON limit refuses such a body
    // before its handler would; the bucket has the same rule as the handler.
    let (_, mut many) = bad_requests().remove(0);
    many.format = "pyk".into();
    many.blobs = vec![many.blobs[0].clone(); 100_001];
    many.size = 10 * 100_001;
    let e = as_printed(bucket.publish(&package, &many).unwrap_err());
    assert!(e.contains("a package has 1 to 100000 blobs"), "{e}");
    assert!(bucket.versions(&package).is_err());
}
