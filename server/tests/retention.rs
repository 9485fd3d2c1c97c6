//! Retention through `POST /v1/gc`, on the directory store and on a bucket alike: a
//! policy of "last 3" on a package of 6 versions, one of them promoted (the latest),
//! keeps those 4 and their blobs, removes the other 2, and collects the blobs only
//! they referenced; a dry run changes nothing; a package without a rule is left alone.

mod common;

use std::path::Path;

use common::*;
use pyk_protocol::api::{GcResponse, VersionList};
use pyk_s3::seaweedfs;

/// Writes the retention file and returns the server's environment for it.
fn policy(dir: &Path) -> String {
    let file = dir.join("retention.toml");
    std::fs::write(
        &file,
        "blob_grace = \"0s\"\n[packages.\"run/app\"]\nkeep_last = 3\n",
    )
    .unwrap();
    file.display().to_string()
}

fn gc(c: &Client, dry_run: bool) -> GcResponse {
    let r = c.send(
        "POST",
        "/v1/gc",
        &[("Content-Type", "application/json")],
        format!("{{\"dry_run\":{dry_run}}}"),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

fn versions(c: &Client, name: &str) -> Vec<String> {
    let list: VersionList = c.get(&format!("/v1/packages/run/{name}/versions")).json();
    list.versions.into_iter().map(|v| v.version).collect()
}

fn blob_status(c: &Client, sha: &str) -> u16 {
    c.send("HEAD", &format!("/v1/blobs/{sha}"), &[], ()).status
}

fn last_three_of_six(server: &Server) {
    let c = server.client();
    // Every version shares the runtime blob and has one of its own; only version 2 is
    // promoted, so it stays the latest while 3 to 6 are published.
    let mut own = Vec::new();
    let mut runtime = String::new();
    for v in 1..=6 {
        let app = format!("app bytes of version {v}");
        let mut request = c.upload_parts(&[b"shared runtime", app.as_bytes()]);
        request.promote = v == 2;
        runtime = request.blobs[0].sha256.clone();
        own.push(request.blobs[1].sha256.clone());
        let r = c.publish("run", "app", &request);
        assert_eq!(r.status, 201, "{}", r.error());
    }
    // The store records which versions were made latest: only 2 was.
    let list: VersionList = c.get("/v1/packages/run/app/versions").json();
    let promoted: Vec<bool> = list.versions.iter().map(|v| v.promoted.is_some()).collect();
    assert_eq!(promoted, [false, true, false, false, false, false]);
    // Another package, with no rule of its own and no default: untouched.
    c.publish_parts("run", "other", &[b"other v1"]);
    c.publish_parts("run", "other", &[b"other v2"]);

    let dry = gc(&c, true);
    let planned: Vec<_> = dry.removed.iter().map(|v| v.version.as_str()).collect();
    assert_eq!(planned, ["1", "3"]);
    assert_eq!((dry.blobs, dry.bytes), (0, 0));
    assert_eq!(versions(&c, "app").len(), 6, "a dry run removed something");
    assert!(own.iter().all(|sha| blob_status(&c, sha) == 200));

    let done = gc(&c, false);
    let removed: Vec<_> = done.removed.iter().map(|v| v.version.as_str()).collect();
    assert_eq!(removed, ["1", "3"]);
    assert_eq!(done.blobs, 2, "{done:?}");
    assert_eq!(versions(&c, "app"), ["2", "4", "5", "6"]);
    assert_eq!(c.manifest("run", "app").unwrap().version, "2");
    assert_eq!(versions(&c, "other"), ["1", "2"]);
    for (i, sha) in own.iter().enumerate() {
        let want = if i == 0 || i == 2 { 404 } else { 200 };
        assert_eq!(blob_status(&c, sha), want, "version {}'s blob", i + 1);
    }
    assert_eq!(blob_status(&c, &runtime), 200, "the shared blob");
    // The kept versions are whole: each blob downloads.
    for v in ["2", "4", "5", "6"] {
        let m: pyk_protocol::api::Manifest =
            c.get(&format!("/v1/packages/run/app/versions/{v}")).json();
        for b in &m.blobs {
            assert_eq!(c.get(&format!("/v1/blobs/{}", b.sha256)).status, 200);
        }
    }
    // Applied again, nothing more goes.
    let again = gc(&c, false);
    assert!(again.removed.is_empty() && again.blobs == 0, "{again:?}");
}

#[test]
fn last_three_of_six_on_a_directory_store() {
    let dir = tempfile::tempdir().unwrap();
    let file = policy(dir.path());
    let server = Server::start(&dir.path().join("store"), &[("PYK_RETENTION", &file)]);
    last_three_of_six(&server);
}

#[test]
fn last_three_of_six_on_a_bucket() {
    let Some(weed) = seaweedfs::shared() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = policy(dir.path());
    let prefix = format!(
        "retention-tests/{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let store = format!("s3://{}/{prefix}", seaweedfs::BUCKET);
    let env = [
        ("AWS_ENDPOINT_URL", weed.endpoint()),
        ("AWS_ACCESS_KEY_ID", seaweedfs::ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", seaweedfs::SECRET_KEY),
        ("PYK_RETENTION", file.as_str()),
    ];
    let server = Server::start(Path::new(&store), &env);
    last_three_of_six(&server);
}

#[test]
fn gc_needs_the_write_key() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        &dir.path().join("store"),
        &[("PYK_WRITE_KEY", "another passphrase")],
    );
    let r = server.client().send(
        "POST",
        "/v1/gc",
        &[("Content-Type", "application/json")],
        "{\"dry_run\":true}",
    );
    assert_eq!(r.status, 403);
}
