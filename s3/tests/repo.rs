//! A pyk repository in a real bucket (SeaweedFS): the registry's rules, racing writers
//! in both modes, streamed blob uploads, nonces, garbage collection.

use std::collections::HashSet;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use pyk_crypto::blob::BlobWriter;
use pyk_crypto::Key;
use pyk_protocol::api::{BlobRef, LatestPointer, PublishRequest, Signature};
use pyk_protocol::{Kind, Sha256};
use pyk_registry::{Latest, Refusal};
use pyk_s3::repo::{Error, Mode, ModeSetting, Repo};
use pyk_s3::{seaweedfs, Condition, Location};

fn repo(test: &str, mode: ModeSetting) -> Option<Repo> {
    let weed = seaweedfs::shared()?;
    let location = Location {
        bucket: seaweedfs::BUCKET.into(),
        prefix: format!("repo-tests/{test}"),
    };
    Some(Repo::open(weed.bucket(), location, mode).unwrap())
}

/// Stores `plain` as an encrypted blob; its reference.
fn blob(repo: &Repo, plain: &[u8]) -> BlobRef {
    let (enc, sha) = BlobWriter::new(&Key::from_config("k"), Vec::new())
        .and_then(|mut w| w.write_all(plain).map(|()| w))
        .and_then(BlobWriter::finish)
        .unwrap();
    repo.bucket()
        .put(&repo.blob_key(&sha), &enc, Condition::Always)
        .unwrap();
    BlobRef {
        sha256: sha.to_string(),
        size: plain.len() as u64,
    }
}

fn request(blobs: Vec<BlobRef>, version: Option<&str>, promote: bool) -> PublishRequest {
    PublishRequest {
        artifact_sha256: "a".repeat(64),
        size: blobs.iter().map(|b| b.size).sum(),
        python: "3.11".into(),
        blobs,
        version: version.map(str::to_owned),
        promote,
        format: "pyk".into(),
        executable: true,
        signed_localname: None,
        signature: None,
        latest: None,
        api: None,
        platforms: Vec::new(),
    }
}

#[test]
fn seaweedfs_honours_conditional_writes() {
    let Some(r) = repo("probe", ModeSetting::Probe) else {
        return;
    };
    assert_eq!(r.mode(), Mode::Conditional);
}

#[test]
fn the_registry_rules_hold_in_a_bucket() {
    let Some(r) = repo("rules", ModeSetting::Probe) else {
        return;
    };
    let run = Kind::Run;
    assert_eq!(r.current(run, "foo").unwrap(), Latest::NoPackage);
    let b = blob(&r, b"one");
    let m1 = r
        .publish(run, "foo", &request(vec![b.clone()], None, true), "n", 1)
        .unwrap();
    assert_eq!(m1.version, "1");
    let m2 = r
        .publish(
            run,
            "foo",
            &request(vec![b.clone()], Some("1.0+b"), false),
            "n",
            2,
        )
        .unwrap();
    assert_eq!(m2.version, "1.0+b");
    let Latest::Manifest(latest) = r.current(run, "foo").unwrap() else {
        panic!()
    };
    assert_eq!(latest.version, "1");
    assert!(matches!(
        r.publish(
            run,
            "foo",
            &request(vec![b.clone()], Some("1.0+b"), true),
            "n",
            3
        ),
        Err(Error::Refused(Refusal::VersionExists { .. }))
    ));
    assert_eq!(
        r.promote(run, "foo", "1.0+b", None).unwrap().version,
        "1.0+b"
    );
    r.set_localname(run, "foo", "foo.bin").unwrap();
    let v = r.version(run, "foo", "1").unwrap().unwrap();
    assert_eq!(v.localname.as_deref(), Some("foo.bin"));
    // Yanking the latest falls back to the newest other version not yanked.
    r.yank(run, "foo", "1.0+b", true, None).unwrap();
    assert!(matches!(
        r.promote(run, "foo", "1.0+b", None),
        Err(Error::Refused(Refusal::Yanked { .. }))
    ));
    let list = r.versions(run, "foo").unwrap().unwrap();
    assert_eq!(list.latest.as_deref(), Some("1"));
    assert!(list.versions[1].yanked);
    assert!(matches!(
        r.delete_version(run, "foo", "1", false, None),
        Err(Error::Refused(Refusal::IsLatest { .. }))
    ));
    r.delete_version(run, "foo", "1", true, None).unwrap();
    assert_eq!(r.current(run, "foo").unwrap(), Latest::Unpromoted);
    assert_eq!(r.list().unwrap().len(), 1);
    // Automatic numbers only grow, past deleted versions.
    let m3 = r
        .publish(run, "foo", &request(vec![b.clone()], None, true), "n", 4)
        .unwrap();
    assert_eq!(m3.version, "2");
    assert!(r.remove(run, "foo").unwrap());
    assert!(!r.remove(run, "foo").unwrap());
    assert_eq!(r.current(run, "foo").unwrap(), Latest::NoPackage);
    assert!(matches!(
        r.publish(run, "foo", &request(vec![b], Some("1.0+b"), true), "n", 5),
        Err(Error::Refused(Refusal::VersionExists { .. }))
    ));
    assert!(r.list().unwrap().is_empty());
}

#[test]
fn a_missing_blob_leaves_no_version() {
    let Some(r) = repo("missing", ModeSetting::Probe) else {
        return;
    };
    let present = blob(&r, b"present");
    let absent = BlobRef {
        sha256: "f".repeat(64),
        size: 3,
    };
    let e = r.publish(
        Kind::Lib,
        "x",
        &request(vec![present, absent], Some("1"), true),
        "n",
        1,
    );
    assert!(
        matches!(e, Err(Error::Refused(Refusal::MissingBlob(_)))),
        "{e:?}"
    );
    assert_eq!(r.current(Kind::Lib, "x").unwrap(), Latest::NoPackage);
    let left = r
        .bucket()
        .list("repo-tests/missing/packages/", None)
        .unwrap();
    assert!(left.objects.is_empty(), "{:?}", left.objects);
}

/// `n` publishers through two repos (two servers) race on one package: every version
/// is listed, numbers are distinct, and latest is one of them.
fn race(test: &str, mode: ModeSetting, n: usize) {
    let Some(a) = repo(test, mode) else { return };
    let b = repo(test, mode).unwrap();
    let blob = blob(&a, test.as_bytes());
    let repos = [Arc::new(a), Arc::new(b)];
    let threads: Vec<_> = (0..n)
        .map(|i| {
            let r = repos[i % 2].clone();
            let blob = blob.clone();
            std::thread::spawn(move || {
                let version = (i % 4 == 3).then(|| format!("x{i}"));
                r.publish(
                    Kind::Run,
                    "race",
                    &request(vec![blob], version.as_deref(), true),
                    "n",
                    1,
                )
                .unwrap()
                .version
            })
        })
        .collect();
    let published: HashSet<String> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(published.len(), n, "{published:?}");
    let list = repos[0].versions(Kind::Run, "race").unwrap().unwrap();
    let listed: HashSet<String> = list.versions.iter().map(|v| v.version.clone()).collect();
    assert_eq!(listed, published);
    assert!(published.contains(list.latest.as_deref().unwrap()));
    let manifests = repos[0]
        .bucket()
        .list(
            &format!("repo-tests/{test}/packages/run/race/versions/"),
            None,
        )
        .unwrap();
    assert_eq!(manifests.objects.len(), n, "an orphaned manifest was left");
}

#[test]
fn racing_publishers_conditional() {
    race("race-conditional", ModeSetting::Probe, 8);
}

#[test]
fn racing_publishers_under_leases() {
    // Each lease takes half a second to settle: four publishers make the point.
    race("race-lease", ModeSetting::Force(Mode::Lease), 4);
}

#[test]
fn streamed_blob_uploads() {
    let Some(r) = repo("upload", ModeSetting::Probe) else {
        return;
    };
    let data: Vec<u8> = (0..(pyk_s3::repo::PART * 2 + 1000) as u32)
        .map(|i| (i % 253) as u8)
        .collect();
    let sha: Sha256 = "1".repeat(64).parse().unwrap();
    let mut up = r.upload_blob(&sha);
    for chunk in data.chunks(64 * 1024) {
        up.write_all(chunk).unwrap();
    }
    assert_eq!(r.blob_len(&sha).unwrap(), None, "visible before commit");
    assert!(up.commit().unwrap());
    assert_eq!(r.blob_len(&sha).unwrap(), Some(data.len() as u64));
    let mut again = r.upload_blob(&sha);
    again.write_all(&data).unwrap();
    assert!(
        !again.commit().unwrap(),
        "a second upload of a stored blob is new"
    );

    let other: Sha256 = "2".repeat(64).parse().unwrap();
    let mut dropped = r.upload_blob(&other);
    dropped.write_all(&data).unwrap();
    drop(dropped);
    assert_eq!(r.blob_len(&other).unwrap(), None);
    let small: Sha256 = "3".repeat(64).parse().unwrap();
    let mut up = r.upload_blob(&small);
    up.write_all(b"small").unwrap();
    assert!(up.commit().unwrap());
    assert_eq!(r.blob_len(&small).unwrap(), Some(5));
}

#[test]
fn a_nonce_is_used_once_across_servers() {
    let Some(a) = repo("nonces", ModeSetting::Probe) else {
        return;
    };
    let b = repo("nonces", ModeSetting::Probe).unwrap();
    let nonce = [7u8; 16];
    assert!(a.first_use(&nonce, 100).unwrap());
    assert!(!b.first_use(&nonce, 100).unwrap());
    assert!(!a.first_use(&nonce, 100).unwrap());
    assert!(b.first_use(&[8u8; 16], 100).unwrap());
    // Expiry spares nonces of live tokens.
    assert_eq!(a.expire_nonces().unwrap(), 0);
    assert!(!b.first_use(&nonce, 100).unwrap());
}

#[test]
fn garbage_collection_spares_what_manifests_name() {
    let Some(r) = repo("gc", ModeSetting::Probe) else {
        return;
    };
    let kept = blob(&r, b"kept");
    let dropped = blob(&r, b"dropped");
    r.publish(
        Kind::Run,
        "g",
        &request(vec![kept.clone()], None, true),
        "n",
        1,
    )
    .unwrap();
    let keep = r.referenced().unwrap();
    assert_eq!(keep.len(), 1);
    let report = r.sweep(&keep, Duration::from_secs(3600)).unwrap();
    assert_eq!(report.blobs, 0, "a young blob went");
    let report = r.sweep(&keep, Duration::ZERO).unwrap();
    assert_eq!(report.blobs, 1);
    assert_eq!(r.blob_len(&dropped.sha256.parse().unwrap()).unwrap(), None);
    assert!(r.blob_len(&kept.sha256.parse().unwrap()).unwrap().is_some());
}

/// Signed pointers are kept beside `latest` and only go forward (the signatures
/// themselves are for readers to judge; the bucket keeps them).
#[test]
fn signed_pointers_only_go_forward() {
    let Some(r) = repo("pointers", ModeSetting::Probe) else {
        return;
    };
    let pointer = |version: &str, issued: u64| LatestPointer {
        version: version.into(),
        issued,
        signature: Signature {
            key: "pyk-ed25519:test".into(),
            sig: "sig".into(),
        },
    };
    let b = blob(&r, b"p");
    let mut first = request(vec![b.clone()], Some("1"), true);
    first.latest = Some(pointer("1", 100));
    first.signature = Some(Signature {
        key: "pyk-ed25519:test".into(),
        sig: "v1".into(),
    });
    r.publish(Kind::Run, "p", &first, "n", 1).unwrap();
    r.publish(Kind::Run, "p", &request(vec![b], Some("2"), false), "n", 2)
        .unwrap();
    let Latest::Manifest(m) = r.current(Kind::Run, "p").unwrap() else {
        panic!()
    };
    assert_eq!(m.latest, Some(pointer("1", 100)));
    assert_eq!(m.signature.as_ref().map(|s| s.sig.as_str()), Some("v1"));
    assert_eq!(r.next(Kind::Run, "p").unwrap().latest_issued, 100);
    let list = r.versions(Kind::Run, "p").unwrap().unwrap();
    assert_eq!(
        list.versions[0].signed_by.as_deref(),
        Some("pyk-ed25519:test")
    );
    // A replayed (stale) pointer and one naming another version are refused.
    assert!(matches!(
        r.promote(Kind::Run, "p", "2", Some(&pointer("2", 100))),
        Err(Error::Refused(Refusal::StaleLatest { .. }))
    ));
    assert!(matches!(
        r.promote(Kind::Run, "p", "2", Some(&pointer("1", 200))),
        Err(Error::Refused(Refusal::WrongLatest { .. }))
    ));
    r.promote(Kind::Run, "p", "2", Some(&pointer("2", 200)))
        .unwrap();
    // An unsigned move drops the pointer; the floor stays.
    r.promote(Kind::Run, "p", "1", None).unwrap();
    let Latest::Manifest(m) = r.current(Kind::Run, "p").unwrap() else {
        panic!()
    };
    assert_eq!(m.latest, None);
    assert_eq!(r.next(Kind::Run, "p").unwrap().latest_issued, 200);
    // Yanking the latest must name where it falls back.
    assert!(matches!(
        r.yank(Kind::Run, "p", "1", true, Some(&pointer("1", 300))),
        Err(Error::Refused(Refusal::WrongLatest { .. }))
    ));
    r.yank(Kind::Run, "p", "1", true, Some(&pointer("2", 300)))
        .unwrap();
    assert_eq!(
        r.versions(Kind::Run, "p")
            .unwrap()
            .unwrap()
            .latest
            .as_deref(),
        Some("2")
    );
}
