//! What checking a signature adds to `pyk foo`: `cargo test --release -p pyk-client --test
//! bench_verify -- --ignored --nocapture`. Times `Trust::verify` on a manifest shaped like
//! a published app's (three blobs), as a cached or pinned run checks it (the version
//! statement) and as a fresh answer about `latest` is checked (both statements and the
//! rollback record on disk). The fastest of several batches, so that a busy machine
//! inflates nothing.

use std::time::{Duration, Instant};

use pyk_client::{Answer, Trust};
use pyk_crypto::sign::SigningKey;
use pyk_protocol::api::{BlobRef, LatestPointer, Manifest};
use pyk_protocol::statement::LatestStatement;
use pyk_protocol::{Kind, Sha256};

fn manifest(key: &SigningKey) -> Manifest {
    let blob = |n: u8, size| BlobRef {
        sha256: Sha256::of(&[n]).to_string(),
        size,
    };
    let mut m = Manifest {
        kind: Kind::Run,
        name: "hello".into(),
        version: "1".into(),
        published: 0,
        publisher: "bench".into(),
        artifact_sha256: Sha256::of(b"a").to_string(),
        size: 7_900_000,
        python: "3.11".into(),
        blobs: vec![blob(1, 480_000), blob(2, 7_400_000), blob(3, 20_000)],
        format: "pyk".into(),
        executable: true,
        yanked: false,
        localname: None,
        signed_localname: None,
        signature: None,
        latest: None,
        api: None,
        platforms: Vec::new(),
    };
    m.signature = Some(key.sign(&m.statement()).unwrap());
    let statement = LatestStatement {
        kind: Kind::Run,
        name: "hello",
        version: "1",
        issued: 5,
    };
    m.latest = Some(LatestPointer {
        version: "1".into(),
        issued: 5,
        signature: key.sign(&statement).unwrap(),
    });
    m
}

fn fastest(batches: usize, per: u32, mut f: impl FnMut()) -> Duration {
    (0..batches)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..per {
                f();
            }
            start.elapsed() / per
        })
        .min()
        .unwrap()
}

#[test]
#[ignore = "a benchmark: run in release mode with --ignored --nocapture"]
fn signature_check_cost() {
    let key = SigningKey::generate().unwrap();
    let m = manifest(&key);
    let dir = tempfile::tempdir().unwrap();
    let trust = Trust::new(vec![key.public()], Default::default()).remembering(dir.path().into());
    let version = fastest(20, 200, || {
        trust.verify(&m, Answer::Version).unwrap();
    });
    let latest = fastest(20, 200, || {
        trust.verify(&m, Answer::Latest).unwrap();
    });
    println!("verify, cached or pinned (one signature): {version:?}");
    println!("verify, fresh latest (two signatures, rollback record): {latest:?}");
}
