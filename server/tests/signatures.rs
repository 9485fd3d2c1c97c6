//! Signed versions and `latest` moves against a real server process: the server stores
//! what publishers sign and hands it out with manifests, refuses signatures that do not
//! hold and pointers that do not go forward, and never needs a private key.

mod common;

use common::*;
use pyk_crypto::sign::SigningKey;
use pyk_protocol::api::{
    LatestPointer, Manifest, NextVersion, PromoteRequest, CODE_STALE_LATEST, CODE_WRONG_LATEST,
};
use pyk_protocol::statement::LatestStatement;
use pyk_protocol::Kind;

fn pointer(key: &SigningKey, version: &str, issued: u64) -> LatestPointer {
    let statement = LatestStatement {
        kind: Kind::Run,
        name: "app",
        version,
        issued,
    };
    LatestPointer {
        version: version.into(),
        issued,
        signature: key.sign(&statement).unwrap(),
    }
}

fn promote(client: &Client, version: &str, latest: Option<LatestPointer>) -> Reply {
    let body = serde_json::to_vec(&PromoteRequest {
        version: version.into(),
        latest,
    })
    .unwrap();
    client.send("POST", "/v1/packages/run/app/promote", &[], body)
}

#[test]
fn signatures_are_checked_stored_and_served() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let client = server.client();
    let key = SigningKey::generate().unwrap();

    let next: NextVersion = client.get("/v1/packages/run/app/next").json();
    assert_eq!((next.version.as_str(), next.latest_issued), ("1", 0));
    let mut request = client.upload_parts(&[&data(1, 100)]);
    request.version = Some("1".into());
    let statement = request.statement(Kind::Run, "app", "1");
    request.signature = Some(key.sign(&statement).unwrap());
    request.latest = Some(pointer(&key, "1", 1000));

    // A signature of other bytes, or a pointer to another version, is refused.
    let mut forged = request.clone();
    forged.artifact_sha256 = sha256_hex(b"other");
    assert_eq!(client.publish("run", "app", &forged).status, 400);
    let mut wrong = request.clone();
    wrong.latest = Some(pointer(&key, "2", 1000));
    let r = client.publish("run", "app", &wrong);
    assert_eq!(r.status, 409);
    assert_eq!(
        r.json::<pyk_protocol::api::ErrorBody>().code.as_deref(),
        Some(CODE_WRONG_LATEST)
    );
    let r = client.publish("run", "app", &request);
    assert_eq!(r.status, 201, "{}", r.error());

    // Served with the latest manifest; a version's manifest has no pointer.
    let latest: Manifest = client.get("/v1/packages/run/app").json();
    assert_eq!(latest.signature, request.signature);
    assert_eq!(latest.latest, request.latest);
    let pinned: Manifest = client.get("/v1/packages/run/app/versions/1").json();
    assert_eq!(
        (pinned.signature, pinned.latest),
        (request.signature.clone(), None)
    );
    let next: NextVersion = client.get("/v1/packages/run/app/next").json();
    assert_eq!((next.version.as_str(), next.latest_issued), ("2", 1000));

    // Pointers only go forward, even to the same version.
    client.publish_parts("run", "app", &[&data(2, 100)]);
    let r = promote(&client, "1", Some(pointer(&key, "1", 1000)));
    assert_eq!(
        r.json::<pyk_protocol::api::ErrorBody>().code.as_deref(),
        Some(CODE_STALE_LATEST)
    );
    assert_eq!(
        promote(&client, "1", Some(pointer(&key, "1", 1001))).status,
        200
    );
    let latest: Manifest = client.get("/v1/packages/run/app").json();
    assert_eq!(latest.latest.unwrap().issued, 1001);

    // An unsigned move drops the stored pointer: it no longer describes latest.
    assert_eq!(promote(&client, "2", None).status, 200);
    assert_eq!(
        client.get("/v1/packages/run/app").json::<Manifest>().latest,
        None
    );
    // A yank that moves latest must name where it goes.
    let yank = |latest: LatestPointer| {
        let body = serde_json::to_vec(&pyk_protocol::api::YankRequest {
            yanked: true,
            latest: Some(latest),
        })
        .unwrap();
        client.send("POST", "/v1/packages/run/app/versions/2/yank", &[], body)
    };
    assert_eq!(yank(pointer(&key, "2", 2000)).status, 409);
    assert_eq!(yank(pointer(&key, "1", 2000)).status, 200);
    assert_eq!(
        client
            .get("/v1/packages/run/app")
            .json::<Manifest>()
            .version,
        "1"
    );
}

#[test]
fn an_older_store_migrates_and_still_serves() {
    // A store written before signatures: tables without the new columns (nor those of
    // later migrations: when versions were promoted).
    let dir = tempfile::tempdir().unwrap();
    {
        let server = Server::start(dir.path(), &[]);
        server
            .client()
            .publish_parts("run", "app", &[&data(1, 100)]);
    }
    let db = rusqlite::Connection::open(dir.path().join("meta.sqlite")).unwrap();
    db.execute_batch(
        "ALTER TABLE latest DROP COLUMN issued; ALTER TABLE latest DROP COLUMN key;
         ALTER TABLE latest DROP COLUMN sig; ALTER TABLE sequences DROP COLUMN issued;
         ALTER TABLE versions DROP COLUMN promoted;
         PRAGMA user_version = 1;",
    )
    .unwrap();
    drop(db);
    let server = Server::start(dir.path(), &[]);
    let client = server.client();
    let m: Manifest = client.get("/v1/packages/run/app").json();
    assert_eq!(
        (m.version.as_str(), m.signature, m.latest),
        ("1", None, None)
    );
    let key = SigningKey::generate().unwrap();
    assert_eq!(
        promote(&client, "1", Some(pointer(&key, "1", 5))).status,
        200
    );
}
