//! The repository protocol against a real server process over real HTTP.

mod common;

use std::io::Read;
use std::time::{Duration, Instant};

use common::*;
use pyk_crypto::blob::BlobReader;
use pyk_crypto::{token, Key};
use pyk_protocol::api::Manifest;

fn blob_files(server: &Server) -> usize {
    std::fs::read_dir(server.store.join("blobs"))
        .unwrap()
        .map(|d| std::fs::read_dir(d.unwrap().path()).unwrap().count())
        .sum()
}

#[test]
fn publish_fetch_and_cache_headers() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let mut client = server.client();
    client.node = Some("ci-node-1".into());
    let (runtime, app) = (data(1, 300_000), data(2, 5_000));
    let published = client.publish_parts("run", "hello", &[&runtime, &app]);
    assert_eq!(published.version, "1");
    assert_eq!(published.manifest.publisher, "ci-node-1");

    let r = client.get("/v1/packages/run/hello");
    assert_eq!(r.status, 200);
    let manifest: Manifest = r.json();
    assert_eq!(manifest, published.manifest);
    let etag = r.etag.unwrap();
    assert_eq!(etag, format!("\"{}.1\"", manifest.artifact_sha256));
    let r = client.send(
        "GET",
        "/v1/packages/run/hello",
        &[("If-None-Match", &etag)],
        (),
    );
    assert_eq!((r.status, r.body.len()), (304, 0));
    // Libraries are another namespace.
    assert_eq!(client.get("/v1/packages/lib/hello").status, 404);

    // Every blob comes back as stored and decrypts to the original.
    let mut whole = Vec::new();
    for blob in &manifest.blobs {
        let path = format!("/v1/blobs/{}", blob.sha256);
        let r = client.get(&path);
        assert_eq!(r.status, 200);
        assert_eq!(
            r.etag.as_deref(),
            Some(format!("\"{}\"", blob.sha256).as_str())
        );
        let mut reader = BlobReader::new(&key(), &r.body[..]);
        reader.read_to_end(&mut whole).unwrap();
        assert_eq!(r.status, client.send("HEAD", &path, &[], ()).status);
        let cached = client.send(
            "GET",
            &path,
            &[("If-None-Match", r.etag.as_deref().unwrap())],
            (),
        );
        assert_eq!((cached.status, cached.body.len()), (304, 0));
    }
    assert_eq!(whole, [runtime.clone(), app].concat());
    assert_eq!(sha256_hex(&whole), manifest.artifact_sha256);
    assert_eq!(
        client
            .send("HEAD", &format!("/v1/blobs/{}", "0".repeat(64)), &[], ())
            .status,
        404
    );

    // Dedup: a second package sharing the runtime adds one file, not two.
    assert_eq!(blob_files(&server), 2);
    let (sha, encrypted) = encrypt(&key(), &runtime);
    assert_eq!(
        client.put_blob(&sha, &encrypted).status,
        200,
        "already stored"
    );
    let second = client.publish_parts("lib", "hello", &[&runtime, b"other app"]);
    assert_eq!(second.version, "1");
    assert_eq!(blob_files(&server), 3);

    let r = client.get("/v1/packages");
    let list: pyk_protocol::api::PackageList = r.json();
    let names: Vec<_> = list
        .packages
        .iter()
        .map(|p| format!("{}/{}@{}", p.kind, p.name, p.version))
        .collect();
    assert_eq!(names, ["lib/hello@1", "run/hello@1"]);

    // The next version moves latest; the old ETag no longer matches.
    let v2 = client.publish_parts("run", "hello", &[&runtime, b"app v2"]);
    assert_eq!(v2.version, "2");
    let r = client.send(
        "GET",
        "/v1/packages/run/hello",
        &[("If-None-Match", &etag)],
        (),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json::<Manifest>().version, "2");

    // Removal: gone for readers, 404 the second time.
    assert_eq!(
        client
            .send("DELETE", "/v1/packages/run/hello", &[], ())
            .status,
        200
    );
    assert_eq!(client.get("/v1/packages/run/hello").status, 404);
    assert_eq!(
        client
            .send("DELETE", "/v1/packages/run/hello", &[], ())
            .status,
        404
    );
    assert!(client.manifest("lib", "hello").is_some());

    // -v: one line per request, with the client's node name.
    let log = server.log();
    assert!(
        log.lines()
            .any(|l| l.starts_with("pyk: ci-node-1 GET /v1/packages/run/hello 304 ")),
        "{log}"
    );
}

#[test]
fn access_control() {
    let dir = tempfile::tempdir().unwrap();
    let write_key = Key::generate();
    let server = Server::start(dir.path(), &[("PYK_WRITE_KEY", write_key.as_str())]);
    let mut writer = Client::new(&server.base, write_key.clone());
    writer.blob_key = key();
    let reader = server.client();
    let published = writer.publish_parts("run", "secret", &[b"top secret bytes"]);
    let blob = format!("/v1/blobs/{}", published.manifest.blobs[0].sha256);

    let stranger = Client::new(&server.base, Key::generate());
    for path in [
        "/v1/packages",
        "/v1/packages/run/secret",
        blob.as_str(),
        "/v1/nowhere",
    ] {
        for (who, r) in [
            ("no token", reader.send_raw("GET", path, None, &[], ())),
            (
                "garbage",
                reader.send_raw("GET", path, Some("Pyk garbage"), &[], ()),
            ),
            ("wrong key", stranger.get(path)),
            (
                "token for another path",
                reader.send_raw(
                    "GET",
                    path,
                    Some(&token::authorization(&key(), "GET", "/v1/other", None)),
                    &[],
                    (),
                ),
            ),
            (
                "token for another method",
                reader.send_raw(
                    "GET",
                    path,
                    Some(&token::authorization(&key(), "HEAD", path, None)),
                    &[],
                    (),
                ),
            ),
        ] {
            assert_eq!(r.status, 401, "{who} {path}");
            let text = String::from_utf8_lossy(&r.body);
            assert!(
                !text.contains("secret") && !text.contains("packages"),
                "{who} {path} leaked {text}"
            );
            assert!(r.etag.is_none());
        }
        assert_ne!(reader.get(path).status, 401, "read key reads {path}");
    }
    // Tokens from another time, and second uses, are `tokens.rs`'s.
    // Nor for a query it did not sign.
    let signed = token::authorization(
        &key(),
        "GET",
        "/v1/packages/run/secret/watch?timeout=1",
        None,
    );
    let r = reader.send_raw(
        "GET",
        "/v1/packages/run/secret/watch?timeout=2",
        Some(&signed),
        &[],
        (),
    );
    assert_eq!(r.status, 401);

    // The read key cannot write; the write key can also read.
    let (sha, encrypted) = encrypt(&key(), b"new blob");
    assert_eq!(reader.put_blob(&sha, &encrypted).status, 403);
    assert_eq!(
        reader
            .send("DELETE", "/v1/packages/run/secret", &[], ())
            .status,
        403
    );
    let request = request(sha.clone(), 8, published.manifest.blobs.clone());
    assert_eq!(reader.publish("run", "secret", &request).status, 403);
    assert_eq!(writer.get("/v1/packages/run/secret").status, 200);
    assert_eq!(reader.manifest("run", "secret").unwrap().version, "1");
}

#[test]
fn bad_input_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[("PYK_MAX_UPLOAD", "200000")]);
    let client = server.client();
    for path in [
        "/v1/packages/run/..%2Fx",
        "/v1/packages/run/a%2Fb",
        "/v1/packages/run/..",
        "/v1/packages/run/%01x",
        "/v1/packages/run/-x",
        "/v1/packages/exe/hello",
        "/v1/packages/RUN/hello",
        "/v1/packages/run/hello/watch?timeout=soon",
        "/v1/blobs/ABCDEF",
        "/v1/blobs/..%2F..%2Fmeta.sqlite",
    ] {
        let r = client.get(path);
        assert_eq!(
            r.status,
            400,
            "{path}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert!(!r.error().is_empty());
    }
    assert_eq!(client.get("/v1/nowhere").status, 404);
    assert_eq!(client.get("/v1/packages/run/hello").status, 404);

    // Tampered, wrongly keyed, or mislabelled blobs are refused and leave nothing.
    let plain = data(3, 100_000);
    let (sha, good) = encrypt(&key(), &plain);
    let mut tampered = good.clone();
    tampered[50_000] ^= 1;
    let r = client.put_blob(&sha, &tampered);
    assert_eq!(r.status, 422, "{}", r.error());
    let (_, other_key) = encrypt(&Key::generate(), &plain);
    assert_eq!(client.put_blob(&sha, &other_key).status, 422);
    let (other_sha, _) = encrypt(&key(), b"something else");
    let r = client.put_blob(&other_sha, &good);
    assert_eq!(r.status, 422);
    assert!(r.error().contains("not its id"), "{}", r.error());
    assert_eq!(client.put_blob(&sha, &good[..good.len() - 10]).status, 422);
    assert_eq!(client.put_blob(&sha, b"plain text").status, 422);
    assert_eq!(
        client
            .send("HEAD", &format!("/v1/blobs/{sha}"), &[], ())
            .status,
        404
    );

    // Too large.
    let big = data(4, 300_000);
    let (big_sha, big_encrypted) = encrypt(&key(), &big);
    let r = client.send(
        "PUT",
        &format!("/v1/blobs/{big_sha}"),
        &[("Expect", "100-continue")],
        &big_encrypted[..],
    );
    assert_eq!(r.status, 413, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(client.put_blob(&sha, &good).status, 201);
    let tmp = std::fs::read_dir(dir.path().join("tmp")).unwrap().count();
    assert_eq!(tmp, 0, "refused uploads leave no temp files");

    // Publishing: bad JSON, bad fields, missing blobs.
    let post = |body: &str| client.send("POST", "/v1/packages/run/hello", &[], body.to_owned());
    assert_eq!(post("{not json").status, 400);
    assert_eq!(post("{}").status, 400);
    let mut r = request(sha.clone(), plain.len() as u64, vec![]);
    assert_eq!(client.publish("run", "hello", &r).status, 400, "no blobs");
    r.blobs = vec![pyk_protocol::api::BlobRef {
        sha256: sha.clone(),
        size: plain.len() as u64,
    }];
    r.python = "three".into();
    assert_eq!(client.publish("run", "hello", &r).status, 400);
    r.python = "3.12".into();
    r.size += 1;
    assert_eq!(
        client.publish("run", "hello", &r).status,
        400,
        "sizes must add up"
    );
    r.size -= 1;
    r.blobs.push(pyk_protocol::api::BlobRef {
        sha256: big_sha.clone(),
        size: big.len() as u64,
    });
    r.size += big.len() as u64;
    let missing = client.publish("run", "hello", &r);
    assert_eq!(missing.status, 409);
    assert!(missing.error().contains(&big_sha), "{}", missing.error());
    r.blobs.pop();
    r.size -= big.len() as u64;
    assert_eq!(client.publish("run", "..%2Fx", &r).status, 400);
    assert_eq!(client.publish("run", "hello", &r).status, 201);
}

#[test]
fn concurrent_publishes_each_get_a_version() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let base = server.base.clone();
    let threads: Vec<_> = (0..20u64)
        .map(|i| {
            let base = base.clone();
            std::thread::spawn(move || {
                let client = Client::new(&base, key());
                let body = data(100 + i, 1000);
                let r = client.publish_parts("run", "busy", &[b"shared runtime", &body]);
                (
                    r.version,
                    r.manifest.artifact_sha256,
                    sha256_hex(&[&b"shared runtime"[..], &body].concat()),
                )
            })
        })
        .collect();
    let mut versions: Vec<u32> = Vec::new();
    for t in threads {
        let (version, got, expected) = t.join().unwrap();
        assert_eq!(got, expected);
        versions.push(version.parse().unwrap());
    }
    versions.sort();
    assert_eq!(versions, (1..=20).collect::<Vec<_>>());
    assert_eq!(
        server.client().manifest("run", "busy").unwrap().version,
        "20"
    );
}

#[test]
fn watch_long_polls() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let client = server.client();
    client.publish_parts("run", "w", &[b"v1"]);

    // Already different: at once.
    let r = client.get("/v1/packages/run/w/watch?after=0&timeout=10");
    assert_eq!(
        (r.status, r.json::<Manifest>().version.as_str()),
        (200, "1")
    );

    // Nothing new: 304 at the timeout.
    let start = Instant::now();
    let r = client.get("/v1/packages/run/w/watch?after=1&timeout=1");
    assert_eq!(r.status, 304);
    assert!(
        start.elapsed() >= Duration::from_millis(900),
        "{:?}",
        start.elapsed()
    );

    // A publish wakes the watcher well before its timeout.
    let base = server.base.clone();
    let watcher = std::thread::spawn(move || {
        let start = Instant::now();
        let r = Client::new(&base, key()).get("/v1/packages/run/w/watch?after=1&timeout=30");
        (r.status, r.json::<Manifest>().version, start.elapsed())
    });
    std::thread::sleep(Duration::from_millis(300));
    client.publish_parts("run", "w", &[b"v2"]);
    let (status, version, waited) = watcher.join().unwrap();
    assert_eq!((status, version.as_str()), (200, "2"));
    assert!(waited < Duration::from_secs(5), "{waited:?}");
}
