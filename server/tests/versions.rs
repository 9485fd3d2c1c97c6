//! Versions against a real server process: explicit and automatic versions, the
//! `latest` pointer (promote, rollback, yank, delete), local names, files.

mod common;

use std::time::{Duration, Instant};

use common::*;
use pyk_crypto::Key;
use pyk_protocol::api::{
    LocalnameRequest, Manifest, PackageList, PromoteRequest, PublishRequest, PublishResponse,
    VersionList, YankRequest,
};
use pyk_protocol::Kind;
use pyk_server::store::embedded::SqliteRegistry;
use pyk_server::store::Registry;
use serde::Serialize;

fn send_json(client: &Client, method: &str, path: &str, body: &impl Serialize) -> Reply {
    client.send(
        method,
        path,
        &[("Content-Type", "application/json")],
        serde_json::to_vec(body).unwrap(),
    )
}

fn promote(client: &Client, name: &str, version: &str) -> Reply {
    send_json(
        client,
        "POST",
        &format!("/v1/packages/run/{name}/promote"),
        &PromoteRequest {
            version: version.into(),
            latest: None,
        },
    )
}

fn yank(client: &Client, name: &str, version: &str, yanked: bool) -> Reply {
    send_json(
        client,
        "POST",
        &format!("/v1/packages/run/{name}/versions/{version}/yank"),
        &YankRequest {
            yanked,
            latest: None,
        },
    )
}

fn delete(client: &Client, name: &str, version: &str, force: bool) -> Reply {
    let query = if force { "?force=true" } else { "" };
    client.send(
        "DELETE",
        &format!("/v1/packages/run/{name}/versions/{version}{query}"),
        &[],
        (),
    )
}

fn versions(client: &Client, name: &str) -> VersionList {
    let r = client.get(&format!("/v1/packages/run/{name}/versions"));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

fn latest(client: &Client, name: &str) -> Option<String> {
    client.manifest("run", name).map(|m| m.version)
}

/// Publishes `body` as `version` (automatic if `None`).
fn publish(
    client: &Client,
    name: &str,
    body: &[u8],
    version: Option<&str>,
    promote: bool,
) -> Reply {
    let request = PublishRequest {
        version: version.map(str::to_owned),
        promote,
        ..client.upload_parts(&[body])
    };
    client.publish("run", name, &request)
}

fn published(r: Reply) -> String {
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.json::<PublishResponse>().version
}

#[test]
fn versions_latest_promote_yank_delete() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let c = server.client();
    let name = "app";

    // Explicit and automatic versions mix; automatic numbers count past explicit ones.
    assert_eq!(published(publish(&c, name, b"one", None, true)), "1");
    assert_eq!(
        published(publish(&c, name, b"1.4.0", Some("1.4.0"), true)),
        "1.4.0"
    );
    assert_eq!(published(publish(&c, name, b"five", Some("5"), true)), "5");
    assert_eq!(published(publish(&c, name, b"six", None, true)), "6");

    // A used version string is refused, whatever the bytes.
    let r = publish(&c, name, b"other bytes", Some("1.4.0"), true);
    assert_eq!(r.status, 409);
    assert_eq!(r.error(), "version 1.4.0 of run app already exists");
    assert_eq!(publish(&c, name, b"one", Some("1"), true).status, 409);

    // Bad version strings, in a publish and in a URL.
    for bad in ["", "../1", "1 0", "latest", "Latest", &"1".repeat(65)] {
        let r = publish(&c, name, b"x", Some(bad), true);
        assert_eq!(r.status, 400, "{bad:?}");
        assert!(r.error().contains("1 to 64 characters"), "{}", r.error());
        assert_eq!(promote(&c, name, bad).status, 400, "{bad:?}");
    }
    for bad in ["..%2F1", "1%200", "latest", "-1"] {
        let path = format!("/v1/packages/run/{name}/versions/{bad}");
        assert_eq!(c.get(&path).status, 400, "{path}");
        assert_eq!(c.send("DELETE", &path, &[], ()).status, 400, "{path}");
    }

    // promote:false stores a version without moving latest.
    assert_eq!(
        published(publish(&c, name, b"candidate", Some("2.0-rc1"), false)),
        "2.0-rc1"
    );
    assert_eq!(latest(&c, name).as_deref(), Some("6"));

    // Promoting it; then rolling back. The latest GET follows at once, ETag included.
    let r = c.get(&format!("/v1/packages/run/{name}"));
    let etag6 = r.etag.unwrap();
    let r = promote(&c, name, "2.0-rc1");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json::<Manifest>().version, "2.0-rc1");
    let r = c.send(
        "GET",
        &format!("/v1/packages/run/{name}"),
        &[("If-None-Match", &etag6)],
        (),
    );
    assert_eq!(r.status, 200, "the old ETag no longer matches");
    assert_eq!(r.json::<Manifest>().version, "2.0-rc1");
    assert_ne!(r.etag.as_deref(), Some(etag6.as_str()));
    assert_eq!(promote(&c, name, "1.4.0").status, 200);
    let m = c.manifest("run", name).unwrap();
    assert_eq!(m.version, "1.4.0");
    assert_eq!(m.artifact_sha256, sha256_hex(b"1.4.0"));
    let r = promote(&c, name, "9.9");
    assert_eq!(r.status, 404);
    assert_eq!(r.error(), "run app has no version 9.9");

    // Yanking the latest moves it to the newest version not yanked.
    let r = yank(&c, name, "1.4.0", true);
    assert_eq!(r.status, 200);
    assert!(r.json::<Manifest>().yanked);
    assert_eq!(latest(&c, name).as_deref(), Some("2.0-rc1"));
    let r = promote(&c, name, "1.4.0");
    assert_eq!(r.status, 409);
    assert!(r.error().contains("yanked"), "{}", r.error());
    assert_eq!(yank(&c, name, "2.0-rc1", true).status, 200);
    assert_eq!(latest(&c, name).as_deref(), Some("6"));
    // A publish that does not promote never makes a yanked version the latest either.
    published(publish(&c, name, b"seven", None, false));
    assert_eq!(latest(&c, name).as_deref(), Some("6"));

    // A yanked version is still served to whoever pins it, never as a 304, so the
    // client asking learns of the yank; others get their 304.
    let path = format!("/v1/packages/run/{name}/versions/1.4.0");
    let r = c.get(&path);
    assert_eq!(r.status, 200);
    let m: Manifest = r.json();
    assert!(m.yanked);
    let tag = r.etag.unwrap();
    assert_eq!(tag, format!("\"{}.1.4.0\"", sha256_hex(b"1.4.0")));
    assert_eq!(
        c.send("GET", &path, &[("If-None-Match", &tag)], ()).status,
        200
    );
    let path5 = format!("/v1/packages/run/{name}/versions/5");
    let r = c.get(&path5);
    assert!(!r.json::<Manifest>().yanked);
    let tag5 = r.etag.unwrap();
    assert_eq!(
        c.send("GET", &path5, &[("If-None-Match", &tag5)], ())
            .status,
        304
    );
    // Unyanking shows at once (the cached manifest is dropped), latest stays.
    assert_eq!(yank(&c, name, "1.4.0", false).status, 200);
    assert!(!c.get(&path).json::<Manifest>().yanked);
    assert_eq!(latest(&c, name).as_deref(), Some("6"));
    assert_eq!(
        c.get(&format!("/v1/packages/run/{name}/versions/404"))
            .status,
        404
    );

    // Deleting the latest takes force; latest then moves to the newest not yanked.
    let r = delete(&c, name, "6", false);
    assert_eq!(r.status, 409);
    assert!(r.error().contains("force"), "{}", r.error());
    assert_eq!(latest(&c, name).as_deref(), Some("6"));
    assert_eq!(delete(&c, name, "6", true).status, 200);
    assert_eq!(latest(&c, name).as_deref(), Some("7"));
    assert_eq!(
        c.get(&format!("/v1/packages/run/{name}/versions/6")).status,
        404
    );
    assert_eq!(delete(&c, name, "6", true).status, 404);
    // Its string stays used: a version never names other bytes.
    assert_eq!(publish(&c, name, b"new six", Some("6"), true).status, 409);
    assert_eq!(published(publish(&c, name, b"eight", None, false)), "8");

    // The list: publish order, the latest, the local name.
    let r = send_json(
        &c,
        "PUT",
        &format!("/v1/packages/run/{name}/localname"),
        &LocalnameRequest {
            localname: "app.tar.gz".into(),
        },
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let list = versions(&c, name);
    let order: Vec<_> = list
        .versions
        .iter()
        .map(|v| (v.version.as_str(), v.yanked))
        .collect();
    assert_eq!(
        order,
        [
            ("1", false),
            ("1.4.0", false),
            ("5", false),
            ("2.0-rc1", true),
            ("7", false),
            ("8", false)
        ]
    );
    assert_eq!(list.latest.as_deref(), Some("7"));
    assert_eq!(list.localname.as_deref(), Some("app.tar.gz"));
    assert_eq!(list.versions[1].artifact_sha256, sha256_hex(b"1.4.0"));
    assert_eq!(list.versions[1].size, 5);
    assert_eq!(list.versions[1].format, "pyk");
    assert_eq!(
        c.manifest("run", name).unwrap().localname.as_deref(),
        Some("app.tar.gz"),
        "a new local name shows in the cached latest at once"
    );

    // Nothing promoted is not the same as no package.
    for v in ["1", "1.4.0", "5", "7", "8"] {
        assert_eq!(yank(&c, name, v, true).status, 200);
    }
    let r = c.get(&format!("/v1/packages/run/{name}"));
    assert_eq!(r.status, 404);
    assert_eq!(r.error(), "run app has no promoted version");
    assert_eq!(
        c.get("/v1/packages/run/nothing").error(),
        "no package run/nothing"
    );
    assert_eq!(versions(&c, name).latest, None);
    let list: PackageList = c.get("/v1/packages").json();
    assert_eq!(list.packages.len(), 1);
    assert_eq!(
        list.packages[0].version, "",
        "listed, with nothing promoted"
    );
    assert_eq!(c.get("/v1/packages/run/nothing/versions").status, 404);
    let r = c.get(&format!("/v1/packages/run/{name}/watch?after=7&timeout=1"));
    assert_eq!(r.status, 304, "nothing promoted: nothing to answer with");
}

#[test]
fn local_names_and_files() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let c = server.client();
    let put = |name: &str, localname: &str| {
        send_json(
            &c,
            "PUT",
            &format!("/v1/packages/lib/{name}/localname"),
            &LocalnameRequest {
                localname: localname.into(),
            },
        )
    };

    // `init pkgname filename` before any push: the package exists, unpromoted.
    assert_eq!(put("data", "narf.tar.gz").status, 200);
    let list: VersionList = c.get("/v1/packages/lib/data/versions").json();
    assert_eq!(
        (list.latest, list.localname.as_deref(), list.versions.len()),
        (None, Some("narf.tar.gz"), 0)
    );
    assert_eq!(
        c.get("/v1/packages/lib/data").error(),
        "lib data has no promoted version"
    );
    for bad in ["", ".", "..", "a/b", "a\nb", "nul\0", &"x".repeat(256)] {
        let r = put("data", bad);
        assert_eq!(r.status, 400, "{bad:?}");
        assert!(r.error().contains("plain file name"), "{}", r.error());
    }
    assert_eq!(
        c.send("PUT", "/v1/packages/lib/data/localname", &[], "{}")
            .status,
        400
    );

    // An arbitrary file: no Python, not executable.
    let mut request = c.upload_parts(&[b"#!/bin/sh\necho hi\n"]);
    request.format = "file".into();
    request.python = String::new();
    request.executable = false;
    request.version = Some("2024.01".into());
    let r = c.publish("lib", "data", &request);
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let m = c.manifest("lib", "data").unwrap();
    assert_eq!(
        (m.format.as_str(), m.python.as_str(), m.executable),
        ("file", "", false)
    );
    assert_eq!(m.localname.as_deref(), Some("narf.tar.gz"));
    let list: VersionList = c.get("/v1/packages/lib/data/versions").json();
    assert_eq!(list.versions[0].format, "file");

    // A pyk executable needs its Python; formats are known ones.
    request.version = None;
    request.format = "pyk".into();
    assert_eq!(c.publish("lib", "data", &request).status, 400);
    request.format = "zip".into();
    request.python = "3.11".into();
    let r = c.publish("lib", "data", &request);
    assert_eq!(r.status, 400);
    assert!(r.error().contains("format"), "{}", r.error());

    // An older client's body (no new fields): automatic version, promoted, pyk.
    let body = serde_json::json!({
        "artifact_sha256": request.artifact_sha256,
        "size": request.size,
        "python": "3.11",
        "blobs": request.blobs,
    });
    let r = send_json(&c, "POST", "/v1/packages/lib/data", &body);
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let m = c.manifest("lib", "data").unwrap();
    assert_eq!(
        (m.version.as_str(), m.format.as_str(), m.executable),
        ("1", "pyk", true),
        "2024.01 is not a number, so it does not count"
    );

    // Removing the package forgets its local name, not its used versions.
    assert_eq!(
        c.send("DELETE", "/v1/packages/lib/data", &[], ()).status,
        200
    );
    assert_eq!(c.get("/v1/packages/lib/data/versions").status, 404);
    request.format = "file".into();
    request.version = Some("2024.01".into());
    assert_eq!(c.publish("lib", "data", &request).status, 409);
}

#[test]
fn only_the_write_key_moves_versions() {
    let dir = tempfile::tempdir().unwrap();
    let write_key = Key::generate();
    let server = Server::start(dir.path(), &[("PYK_WRITE_KEY", write_key.as_str())]);
    let mut writer = Client::new(&server.base, write_key);
    writer.blob_key = key();
    let reader = server.client();
    writer.publish_parts("run", "app", &[b"v1"]);
    writer.publish_parts("run", "app", &[b"v2"]);

    assert_eq!(promote(&reader, "app", "1").status, 403);
    assert_eq!(yank(&reader, "app", "2", true).status, 403);
    assert_eq!(delete(&reader, "app", "1", false).status, 403);
    assert_eq!(delete(&reader, "app", "2", true).status, 403);
    let r = send_json(
        &reader,
        "PUT",
        "/v1/packages/run/app/localname",
        &LocalnameRequest {
            localname: "app".into(),
        },
    );
    assert_eq!(r.status, 403);
    // Nothing moved; reading versions takes only the read key.
    let list = versions(&reader, "app");
    assert_eq!(list.latest.as_deref(), Some("2"));
    assert_eq!(list.localname, None);
    assert!(list.versions.iter().all(|v| !v.yanked));
    assert_eq!(reader.get("/v1/packages/run/app/versions/1").status, 200);
    assert_eq!(promote(&writer, "app", "1").status, 200);
    assert_eq!(latest(&reader, "app").as_deref(), Some("1"));
}

/// Publishes, promotes and yanks racing each other: `latest` always ends on a version
/// that exists and is not yanked, and no publish is lost.
#[test]
fn concurrent_publishes_and_promotes_keep_latest_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let base = server.base.clone();
    let threads: Vec<_> = (0..20u64)
        .map(|i| {
            let base = base.clone();
            std::thread::spawn(move || {
                let c = Client::new(&base, key());
                let version = format!("1.{i}");
                let body = data(200 + i, 2000);
                published(publish(
                    &c,
                    "race",
                    &body,
                    Some(&version),
                    i.is_multiple_of(2),
                ));
                // Promote a neighbour (which may not exist yet, 404, or be yanked, 409),
                // then its own; every third then yanks its own, latest or not.
                let other = format!("1.{}", (i + 7) % 20);
                let status = promote(&c, "race", &other).status;
                assert!([200, 404, 409].contains(&status), "promote {status}");
                assert_eq!(promote(&c, "race", &version).status, 200);
                if i.is_multiple_of(3) {
                    assert_eq!(yank(&c, "race", &version, true).status, 200);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let c = server.client();
    let list = versions(&c, "race");
    assert_eq!(list.versions.len(), 20, "every publish is listed");
    let latest_version = list.latest.expect("something is promoted");
    let info = list
        .versions
        .iter()
        .find(|v| v.version == latest_version)
        .expect("latest is an existing version");
    assert!(!info.yanked, "latest {latest_version} is yanked");
    for v in &list.versions {
        let n: u64 = v.version[2..].parse().unwrap();
        assert_eq!(v.yanked, n.is_multiple_of(3), "{}", v.version);
    }
    assert_eq!(
        c.manifest("run", "race").unwrap().version,
        latest_version,
        "the cached answer agrees with the store"
    );
}

#[test]
fn watch_wakes_on_promote() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let c = server.client();
    c.publish_parts("run", "w", &[b"v1"]);
    c.publish_parts("run", "w", &[b"v2"]);

    let base = server.base.clone();
    let watcher = std::thread::spawn(move || {
        let start = Instant::now();
        let r = Client::new(&base, key()).get("/v1/packages/run/w/watch?after=2&timeout=30");
        (r.status, r.json::<Manifest>().version, start.elapsed())
    });
    std::thread::sleep(Duration::from_millis(300));
    // Storing a version without promoting it is no news for the watcher.
    assert_eq!(publish(&c, "w", b"v3", None, false).status, 201);
    std::thread::sleep(Duration::from_millis(200));
    assert!(!watcher.is_finished());
    assert_eq!(promote(&c, "w", "1").status, 200);
    let (status, version, waited) = watcher.join().unwrap();
    assert_eq!((status, version.as_str()), (200, "1"));
    assert!(waited < Duration::from_secs(5), "{waited:?}");
}

/// Another process writing the same registry (here this test, on the server's
/// meta.sqlite) is seen within the catalog's poll: cached answers are dropped and
/// watchers wake.
#[test]
fn writes_made_elsewhere_reach_cached_answers() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let c = server.client();
    c.publish_parts("run", "app", &[b"v1"]);
    c.publish_parts("run", "app", &[b"v2"]);
    assert_eq!(latest(&c, "app").as_deref(), Some("2"));
    let r = c.get("/v1/packages/run/app/versions/1");
    assert!(!r.json::<Manifest>().yanked);

    let elsewhere = SqliteRegistry::open(&dir.path().join("meta.sqlite")).unwrap();
    elsewhere.promote(Kind::Run, "app", "1", None).unwrap();
    elsewhere.yank(Kind::Run, "app", "1", true, None).unwrap();
    let until = |what: &str, done: &dyn Fn() -> bool| {
        let start = Instant::now();
        while !done() {
            assert!(start.elapsed() < Duration::from_secs(5), "{what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    until("the yank", &|| {
        c.get("/v1/packages/run/app/versions/1")
            .json::<Manifest>()
            .yanked
    });
    assert_eq!(latest(&c, "app").as_deref(), Some("2"));

    let base = server.base.clone();
    let watcher = std::thread::spawn(move || {
        Client::new(&base, key())
            .get("/v1/packages/run/app/watch?after=2&timeout=30")
            .json::<Manifest>()
            .version
    });
    std::thread::sleep(Duration::from_millis(300));
    elsewhere.yank(Kind::Run, "app", "1", false, None).unwrap();
    elsewhere.promote(Kind::Run, "app", "1", None).unwrap();
    until("the watcher", &|| watcher.is_finished());
    assert_eq!(watcher.join().unwrap(), "1");
}
