//! Several servers on one bucket (SeaweedFS, started by this test process): what one
//! publishes the others serve, cached answers follow writes made elsewhere within the
//! revalidation bound, a server killed mid-upload leaves the package whole, and racing
//! publishers through two servers lose nothing.

mod common;

use std::collections::HashSet;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use pyk_protocol::api::Manifest;
use pyk_s3::seaweedfs;
use ureq::SendBody;

/// A `pyk-server` on `s3://pyk/<prefix>`; `None` when SeaweedFS is not installed.
fn s3_server(prefix: &str, extra: &[(&str, &str)]) -> Option<Server> {
    let weed = seaweedfs::shared()?;
    let mut env = vec![
        ("AWS_ENDPOINT_URL", weed.endpoint()),
        ("AWS_ACCESS_KEY_ID", seaweedfs::ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", seaweedfs::SECRET_KEY),
    ];
    env.extend_from_slice(extra);
    let store = format!("s3://{}/server-tests/{prefix}", seaweedfs::BUCKET);
    Some(Server::start(Path::new(&store), &env))
}

fn until(what: &str, within: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < within, "{what} took over {within:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    start.elapsed()
}

fn latest(c: &Client, name: &str) -> Option<String> {
    c.manifest("run", name).map(|m| m.version)
}

#[test]
fn publish_through_one_server_read_and_promote_through_another() {
    let Some(a) = s3_server("two", &[]) else {
        return;
    };
    let b = s3_server("two", &[]).unwrap();
    let (ca, cb) = (a.client(), b.client());
    let v1 = ca.publish_parts("run", "app", &[b"runtime", b"app v1"]);
    assert_eq!(cb.manifest("run", "app").unwrap(), v1.manifest);
    for blob in &v1.manifest.blobs {
        let r = cb.get(&format!("/v1/blobs/{}", blob.sha256));
        assert_eq!(r.status, 200);
    }
    // B has v1 cached now; a publish through A shows through B within the bound.
    ca.publish_parts("run", "app", &[b"runtime", b"app v2"]);
    let waited = until("v2 through B", Duration::from_secs(3), || {
        latest(&cb, "app").as_deref() == Some("2")
    });
    eprintln!("a publish through A showed through B after {waited:?}");

    // A watcher on A wakes when B promotes.
    let base = a.base.clone();
    let watcher = std::thread::spawn(move || {
        let start = Instant::now();
        let r = Client::new(&base, key()).get("/v1/packages/run/app/watch?after=2&timeout=20");
        (r.json::<Manifest>().version, start.elapsed())
    });
    std::thread::sleep(Duration::from_millis(300));
    let r = cb.send(
        "POST",
        "/v1/packages/run/app/promote",
        &[("Content-Type", "application/json")],
        r#"{"version":"1"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.error());
    let (version, waited) = watcher.join().unwrap();
    assert_eq!(version, "1");
    assert!(waited < Duration::from_secs(4), "{waited:?}");
    assert_eq!(latest(&ca, "app").as_deref(), Some("1"));
}

/// A request body that counts what it handed out and then trickles.
struct Counted {
    data: Vec<u8>,
    pos: usize,
    sent: Arc<AtomicUsize>,
}

impl Read for Counted {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos > 12 << 20 {
            std::thread::sleep(Duration::from_millis(20));
        }
        let n = buf.len().min(self.data.len() - self.pos).min(64 * 1024);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        self.sent.store(self.pos, Ordering::SeqCst);
        Ok(n)
    }
}

#[test]
fn a_server_killed_mid_upload_leaves_the_package_whole() {
    let Some(mut a) = s3_server("kill", &[]) else {
        return;
    };
    let b = s3_server("kill", &[]).unwrap();
    let v1 = a
        .client()
        .publish_parts("run", "app", &[b"runtime", b"app v1"]);

    // 20 MB: the first parts of a multipart upload are in the bucket when A dies.
    let (sha, encrypted) = encrypt(&key(), &data(9, 20 << 20));
    let sent = Arc::new(AtomicUsize::new(0));
    let body = Counted {
        data: encrypted,
        pos: 0,
        sent: sent.clone(),
    };
    let base = a.base.clone();
    let path = format!("/v1/blobs/{sha}");
    let blob: pyk_protocol::Sha256 = sha.parse().unwrap();
    let uploader = std::thread::spawn(move || {
        let auth = pyk_crypto::token::authorization(&key(), "PUT", &path, Some(&blob));
        Client::new(&base, key())
            .try_send(
                "PUT",
                &path,
                Some(&auth),
                &[],
                SendBody::from_owned_reader(body),
            )
            .ok()
            .map(|r| r.status)
    });
    until("16 MB sent to A", Duration::from_secs(20), || {
        sent.load(Ordering::SeqCst) > 16 << 20
    });
    a.sigkill();
    assert_eq!(
        uploader.join().unwrap(),
        None,
        "the upload cannot have succeeded"
    );

    let cb = b.client();
    assert_eq!(cb.manifest("run", "app").unwrap(), v1.manifest);
    for blob in &v1.manifest.blobs {
        assert_eq!(cb.get(&format!("/v1/blobs/{}", blob.sha256)).status, 200);
    }
    assert_eq!(
        cb.send("HEAD", &format!("/v1/blobs/{sha}"), &[], ()).status,
        404
    );
    let v2 = cb.publish_parts("run", "app", &[b"runtime", b"app v2"]);
    assert_eq!(v2.version, "2");
}

#[test]
fn racing_publishers_through_two_servers_lose_nothing() {
    let Some(a) = s3_server("race", &[]) else {
        return;
    };
    let b = s3_server("race", &[]).unwrap();
    let bases = [a.base.clone(), b.base.clone()];
    let threads: Vec<_> = (0..6)
        .map(|i| {
            let base = bases[i % 2].clone();
            std::thread::spawn(move || {
                let part = format!("racer {i}");
                Client::new(&base, key())
                    .publish_parts("run", "race", &[b"shared runtime", part.as_bytes()])
                    .version
            })
        })
        .collect();
    let published: HashSet<String> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(published.len(), 6, "{published:?}");
    let listed: pyk_protocol::api::VersionList =
        a.client().get("/v1/packages/run/race/versions").json();
    let names: HashSet<String> = listed.versions.iter().map(|v| v.version.clone()).collect();
    assert_eq!(names, published);
    assert!(published.contains(listed.latest.as_deref().unwrap()));
}

#[test]
fn the_banner_says_which_guarantee_holds() {
    let Some(a) = s3_server("modes", &[]) else {
        return;
    };
    let b = s3_server("modes", &[("PYK_S3_MODE", "lease")]).unwrap();
    assert!(a.banner.contains("(conditional writes"), "{}", a.banner);
    assert!(b.banner.contains("per-package lease"), "{}", b.banner);
    a.client().publish_parts("run", "m", &[b"x"]);
    b.client().publish_parts("run", "m", &[b"y"]);
    assert_eq!(latest(&a.client(), "m").as_deref(), Some("2"));
}

/// A write token used at one server is refused at the others, whichever way they write;
/// a read token is each server's own business.
#[test]
fn a_write_token_is_good_once_across_servers() {
    let Some(a) = s3_server("replay", &[]) else {
        return;
    };
    let b = s3_server("replay", &[]).unwrap();
    let (ca, cb) = (a.client(), b.client());
    ca.publish_parts("run", "app", &[b"v1"]);
    ca.publish_parts("run", "app", &[b"v2"]);
    let target = "/v1/packages/run/app/promote";
    let body = br#"{"version":"1"}"#;
    let field = pyk_protocol::request::body_field("POST", target, body);
    let token = pyk_crypto::token::authorization(&key(), "POST", target, field.as_ref());
    let r = ca.send_raw("POST", target, Some(&token), &[], &body[..]);
    assert_eq!(r.status, 200, "{}", r.error());
    let r = cb.send_raw("POST", target, Some(&token), &[], &body[..]);
    assert_eq!(
        (
            r.status,
            r.json::<pyk_protocol::api::ErrorBody>().code.as_deref()
        ),
        (401, Some(pyk_protocol::api::CODE_REPLAYED)),
        "the token used at A opened B"
    );
    // A server that takes leases (a service ignoring conditions) records nonces too.
    let c = s3_server("replay", &[("PYK_S3_MODE", "lease")]).unwrap();
    let body = br#"{"version":"2"}"#;
    let field = pyk_protocol::request::body_field("POST", target, body);
    let token = pyk_crypto::token::authorization(&key(), "POST", target, field.as_ref());
    let r = c
        .client()
        .send_raw("POST", target, Some(&token), &[], &body[..]);
    assert_eq!(r.status, 200, "{}", r.error());
    let r = ca.send_raw("POST", target, Some(&token), &[], &body[..]);
    assert_eq!(r.status, 401, "the token used at C opened A");
    until("C's promote through B", Duration::from_secs(3), || {
        latest(&cb, "app").as_deref() == Some("2")
    });
}

/// A blob damaged in the bucket (rewritten by someone with the bucket's credentials, or
/// by a faulty service) is not reported as present, and uploading it again replaces it.
#[test]
fn a_damaged_blob_in_the_bucket_is_replaced_by_uploading_it_again() {
    let Some(a) = s3_server("repair", &[]) else {
        return;
    };
    let client = a.client();
    let plain = data(4, 200_000);
    let (sha, encrypted) = encrypt(&key(), &plain);
    assert_eq!(client.put_blob(&sha, &encrypted).status, 201);
    let path = format!("/v1/blobs/{sha}");
    assert_eq!(client.send("HEAD", &path, &[], ()).status, 200);

    // One byte changes, the length stays.
    let bucket = seaweedfs::shared().unwrap().bucket();
    let object = format!("server-tests/repair/blobs/{sha}");
    let mut damaged = encrypted.clone();
    damaged[100_000] ^= 0xff;
    bucket
        .put(&object, &damaged, pyk_s3::Condition::Always)
        .unwrap();
    assert_eq!(client.send("HEAD", &path, &[], ()).status, 404);
    assert_eq!(client.put_blob(&sha, &encrypted).status, 200);
    assert_eq!(client.send("HEAD", &path, &[], ()).status, 200);
    let mut back = Vec::new();
    pyk_crypto::blob::BlobReader::new(&key(), &client.get(&path).body[..])
        .read_to_end(&mut back)
        .unwrap();
    assert!(back == plain);
}
