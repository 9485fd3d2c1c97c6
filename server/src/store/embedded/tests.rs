//! The embedded store as a whole: blobs, registry, garbage collection, migration, the
//! lock.

use std::fs;
use std::io::Write;
use std::ops::Deref;
use std::path::Path;
use std::time::Duration;

use pyk_crypto::blob::encrypted_len;
use pyk_protocol::api::{BlobRef, Manifest, PublishRequest};
use pyk_protocol::Kind;
use rusqlite::Connection;

use super::schema::SCHEMA;
use crate::store::{GcReport, Latest, Refusal, Registry, Result, StagedBlob, Store, StoreError};

/// The store as these tests use it: the registry's calls through `Deref`, and those
/// that need both halves or the blobs.
struct EmbeddedStore(Store);

impl EmbeddedStore {
    fn open(root: &Path) -> Result<EmbeddedStore> {
        super::open(root).map(EmbeddedStore)
    }

    fn stage_blob(&self, sha256: &str) -> Result<Box<dyn StagedBlob + '_>> {
        self.0.blobs().stage(&sha256.parse().unwrap())
    }

    fn blob_len(&self, sha256: &str) -> Result<Option<u64>> {
        self.0.blobs().stored_len(&sha256.parse().unwrap())
    }

    fn publish(
        &self,
        kind: Kind,
        name: &str,
        request: &PublishRequest,
        publisher: &str,
        now: u64,
    ) -> Result<Manifest> {
        self.0.publish(kind, name, request, publisher, now)
    }

    fn collect_garbage(&self, grace: Duration) -> Result<GcReport> {
        self.0.collect_garbage(grace)
    }
}

impl Deref for EmbeddedStore {
    type Target = dyn Registry<StoreError>;

    fn deref(&self) -> &(dyn Registry<StoreError> + 'static) {
        self.0.registry()
    }
}

fn put(store: &EmbeddedStore, sha: &str, len: u64) -> bool {
    let mut staged = store.stage_blob(sha).unwrap();
    staged.write_all(&vec![7u8; len as usize]).unwrap();
    staged.commit().unwrap()
}

fn request(blobs: &[(&str, u64)]) -> PublishRequest {
    PublishRequest {
        artifact_sha256: "ab".repeat(32),
        size: blobs.iter().map(|b| b.1).sum(),
        python: "3.11".into(),
        blobs: blobs
            .iter()
            .map(|(s, n)| BlobRef {
                sha256: s.to_string(),
                size: *n,
            })
            .collect(),
        version: None,
        promote: true,
        format: "pyk".into(),
        executable: true,
        signed_localname: None,
        signature: None,
        latest: None,
        api: None,
        platforms: Vec::new(),
    }
}

fn explicit(blobs: &[(&str, u64)], version: &str, promote: bool) -> PublishRequest {
    PublishRequest {
        version: Some(version.into()),
        promote,
        ..request(blobs)
    }
}

fn latest(store: &EmbeddedStore, name: &str) -> Option<String> {
    match store.current(Kind::Run, name).unwrap() {
        Latest::Manifest(m) => Some(m.version),
        Latest::Unpromoted => None,
        Latest::NoPackage => panic!("no package {name}"),
    }
}

#[test]
fn publish_remove_and_collect() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let (a, b) = ("aa".repeat(32), "bb".repeat(32));
    assert!(put(&store, &a, encrypted_len(10)));
    assert!(!put(&store, &a, encrypted_len(10)), "dedup");
    let missing = store.publish(Kind::Run, "x", &request(&[(&a, 10), (&b, 5)]), "n", 1);
    assert!(matches!(missing, Err(StoreError::Refused(Refusal::MissingBlob(s))) if s == b));
    let wrong_size = store.publish(Kind::Run, "x", &request(&[(&a, 100)]), "n", 1);
    assert!(matches!(
        wrong_size,
        Err(StoreError::Refused(Refusal::MissingBlob(_)))
    ));
    put(&store, &b, encrypted_len(5));
    let m1 = store
        .publish(Kind::Run, "x", &request(&[(&a, 10)]), "n", 1)
        .unwrap();
    let m2 = store
        .publish(Kind::Run, "x", &request(&[(&a, 10), (&b, 5)]), "n", 2)
        .unwrap();
    assert_eq!((m1.version.as_str(), m2.version.as_str()), ("1", "2"));
    assert_eq!(
        store.current(Kind::Run, "x").unwrap(),
        Latest::Manifest(Box::new(m2))
    );
    assert_eq!(store.current(Kind::Lib, "x").unwrap(), Latest::NoPackage);
    assert_eq!(store.list().unwrap().len(), 1);

    // Referenced blobs survive; after removal they go, but only past the grace.
    assert_eq!(
        store.collect_garbage(Duration::ZERO).unwrap(),
        GcReport::default()
    );
    assert!(store.remove(Kind::Run, "x").unwrap());
    assert!(!store.remove(Kind::Run, "x").unwrap());
    assert_eq!(
        store
            .collect_garbage(Duration::from_secs(3600))
            .unwrap()
            .blobs,
        0
    );
    assert_eq!(store.collect_garbage(Duration::ZERO).unwrap().blobs, 2);
    assert_eq!(store.blob_len(&a).unwrap(), None);

    // Numbers are never reused after a removal.
    put(&store, &a, encrypted_len(10));
    let m3 = store
        .publish(Kind::Run, "x", &request(&[(&a, 10)]), "n", 3)
        .unwrap();
    assert_eq!(m3.version, "3");
}

#[test]
fn the_api_tree_blob_is_checked_kept_and_collected() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let (a, tree) = ("aa".repeat(32), "cc".repeat(32));
    put(&store, &a, encrypted_len(10));
    let with_tree = PublishRequest {
        api: Some(BlobRef {
            sha256: tree.clone(),
            size: 3,
        }),
        ..request(&[(&a, 10)])
    };
    // Like any blob, it must be uploaded first; it is not part of the artifact's size.
    let missing = store.publish(Kind::Lib, "x", &with_tree, "n", 1);
    assert!(matches!(missing, Err(StoreError::Refused(Refusal::MissingBlob(s))) if s == tree));
    put(&store, &tree, encrypted_len(3));
    let m = store.publish(Kind::Lib, "x", &with_tree, "n", 1).unwrap();
    assert_eq!(m.api, with_tree.api);
    assert_eq!(
        store.version(Kind::Lib, "x", "1").unwrap().unwrap().api,
        m.api
    );
    // A version without one (an older publisher) has none.
    let plain = store
        .publish(Kind::Lib, "x", &request(&[(&a, 10)]), "n", 2)
        .unwrap();
    assert_eq!(plain.api, None);

    assert_eq!(store.collect_garbage(Duration::ZERO).unwrap().blobs, 0);
    assert!(store.blob_len(&tree).unwrap().is_some());
    store
        .delete_version(Kind::Lib, "x", "1", false, None)
        .unwrap();
    assert_eq!(store.collect_garbage(Duration::ZERO).unwrap().blobs, 1);
    assert_eq!(store.blob_len(&tree).unwrap(), None);
}

#[test]
fn versions_promote_yank_delete() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let a = "aa".repeat(32);
    put(&store, &a, encrypted_len(10));
    let blobs = [(a.as_str(), 10)];
    let publish = |r: &PublishRequest| store.publish(Kind::Run, "x", r, "n", 1);

    // Explicit and automatic versions mix; numbers count past explicit ones.
    assert_eq!(publish(&request(&blobs)).unwrap().version, "1");
    assert_eq!(
        publish(&explicit(&blobs, "1.4.0", true)).unwrap().version,
        "1.4.0"
    );
    assert_eq!(publish(&explicit(&blobs, "7", false)).unwrap().version, "7");
    assert_eq!(latest(&store, "x").as_deref(), Some("1.4.0"));
    assert_eq!(publish(&request(&blobs)).unwrap().version, "8");
    assert!(matches!(
        publish(&explicit(&blobs, "1.4.0", true)),
        Err(StoreError::Refused(Refusal::VersionExists { .. }))
    ));

    // Rollback, then yanking the latest falls back to the newest not yanked.
    store.promote(Kind::Run, "x", "1", None).unwrap();
    assert_eq!(latest(&store, "x").as_deref(), Some("1"));
    let yanked = store.yank(Kind::Run, "x", "1", true, None).unwrap();
    assert!(yanked.yanked);
    assert_eq!(latest(&store, "x").as_deref(), Some("8"));
    assert!(matches!(
        store.promote(Kind::Run, "x", "1", None),
        Err(StoreError::Refused(Refusal::Yanked { .. }))
    ));
    assert!(store.version(Kind::Run, "x", "1").unwrap().unwrap().yanked);
    assert!(matches!(
        store.promote(Kind::Run, "x", "9", None),
        Err(StoreError::Refused(Refusal::NoVersion { .. }))
    ));

    // The latest is deleted only by force; a deleted string stays used.
    assert!(matches!(
        store.delete_version(Kind::Run, "x", "8", false, None),
        Err(StoreError::Refused(Refusal::IsLatest { .. }))
    ));
    store
        .delete_version(Kind::Run, "x", "8", true, None)
        .unwrap();
    assert_eq!(latest(&store, "x").as_deref(), Some("7"));
    assert!(matches!(
        publish(&explicit(&blobs, "8", true)),
        Err(StoreError::Refused(Refusal::VersionExists { .. }))
    ));
    assert_eq!(publish(&request(&blobs)).unwrap().version, "9");

    store.set_localname(Kind::Run, "x", "x.bin").unwrap();
    let list = store.versions(Kind::Run, "x").unwrap().unwrap();
    let names: Vec<_> = list.versions.iter().map(|v| v.version.as_str()).collect();
    assert_eq!(names, ["1", "1.4.0", "7", "9"]);
    assert_eq!(list.latest.as_deref(), Some("9"));
    assert_eq!(list.localname.as_deref(), Some("x.bin"));
    assert_eq!(
        store
            .version(Kind::Run, "x", "7")
            .unwrap()
            .unwrap()
            .localname
            .as_deref(),
        Some("x.bin")
    );

    // Yanking every version leaves nothing promoted; the package still exists.
    for v in ["1.4.0", "7", "9"] {
        store.yank(Kind::Run, "x", v, true, None).unwrap();
    }
    assert_eq!(store.current(Kind::Run, "x").unwrap(), Latest::Unpromoted);
    assert_eq!(store.list().unwrap()[0].version, "");
    store.yank(Kind::Run, "x", "7", false, None).unwrap();
    assert_eq!(store.current(Kind::Run, "x").unwrap(), Latest::Unpromoted);

    // A local name alone makes a package, without making it listed.
    store.set_localname(Kind::Lib, "y", "y.txt").unwrap();
    assert_eq!(store.current(Kind::Lib, "y").unwrap(), Latest::Unpromoted);
    assert_eq!(store.list().unwrap().len(), 1);
    assert!(store.remove(Kind::Lib, "y").unwrap());
    assert_eq!(store.versions(Kind::Lib, "y").unwrap(), None);
}

/// A store written before explicit versions: numbers of removed versions stay used, and
/// no version has a promotion on record.
#[test]
fn old_store_is_migrated() {
    let dir = tempfile::tempdir().unwrap();
    {
        let conn = Connection::open(dir.path().join("meta.sqlite")).unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        conn.execute_batch(
            "DROP TABLE used_versions; DROP TABLE packages;
             INSERT INTO sequences VALUES ('run', 'x', 3);
             INSERT INTO versions VALUES
                 ('run', 'x', '3', 3, '{\"kind\":\"run\",\"name\":\"x\",\"version\":\"3\",
                  \"published\":1,\"publisher\":\"n\",\"artifact_sha256\":\"ab\",\"size\":0,
                  \"python\":\"3.11\",\"blobs\":[]}', 1, 'n', 0);
             INSERT INTO latest VALUES ('run', 'x', '3');",
        )
        .unwrap();
    }
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let m = store.version(Kind::Run, "x", "3").unwrap().unwrap();
    assert_eq!((m.format.as_str(), m.executable), ("pyk", true));
    let a = "aa".repeat(32);
    put(&store, &a, encrypted_len(10));
    for used in ["1", "2", "3"] {
        assert!(matches!(
            store.publish(Kind::Run, "x", &explicit(&[(&a, 10)], used, true), "n", 2),
            Err(StoreError::Refused(Refusal::VersionExists { .. }))
        ));
    }
    let next = store.publish(Kind::Run, "x", &request(&[(&a, 10)]), "n", 2);
    assert_eq!(next.unwrap().version, "4");
    drop(store);
    // Migrating is done once; opening again changes nothing.
    let store = EmbeddedStore::open(dir.path()).unwrap();
    assert_eq!(
        store
            .versions(Kind::Run, "x")
            .unwrap()
            .unwrap()
            .versions
            .len(),
        2
    );
    // Its versions have no promotion on record until they are promoted again.
    let promoted = |store: &EmbeddedStore| {
        let list = store.versions(Kind::Run, "x").unwrap().unwrap();
        list.versions[0].promoted
    };
    assert_eq!(promoted(&store), None);
    store.promote(Kind::Run, "x", "3", None).unwrap();
    assert!(promoted(&store).is_some());
}

#[test]
fn one_server_per_store_and_debris_cleared() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    assert!(EmbeddedStore::open(dir.path()).is_err());
    drop(store);
    fs::write(dir.path().join("tmp/leftover.part"), b"partial").unwrap();
    let _store = EmbeddedStore::open(dir.path()).unwrap();
    assert!(!dir.path().join("tmp/leftover.part").exists());
}

/// The tag moves with every commit, this registry's or another's on the same
/// database, and with nothing else.
#[test]
fn tag_follows_every_writer() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let g0 = store.tag(Kind::Run, "x").unwrap();
    assert_eq!(store.tag(Kind::Run, "x").unwrap(), g0);
    store.set_localname(Kind::Run, "x", "x.bin").unwrap();
    let g1 = store.tag(Kind::Run, "x").unwrap();
    assert_ne!(g1, g0);
    let other = super::SqliteRegistry::open(&dir.path().join("meta.sqlite")).unwrap();
    other.set_localname(Kind::Run, "x", "y.bin").unwrap();
    let g2 = store.tag(Kind::Run, "x").unwrap();
    assert_ne!(g2, g1);
    let list = store.versions(Kind::Run, "x").unwrap().unwrap();
    assert_eq!(list.localname.as_deref(), Some("y.bin"));
    store.list().unwrap();
    assert_eq!(store.tag(Kind::Run, "x").unwrap(), g2, "reads move nothing");
}
