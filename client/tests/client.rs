//! The client against a real server process on 127.0.0.1: this test binary, started
//! again to run `pyk_server::serve` (see [`serve`]).

mod common;

use std::fs;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::cut::{proxy, Cut};
use pyk_client::{Client, Damage, Error, Quiet};
use pyk_crypto::Key;
use pyk_protocol::api::{BlobRef, PublishRequest};
use pyk_protocol::{Kind, PackageRef, Sha256};
use pyk_server::store::StoreConfig;

const PASS: &str = "client test passphrase";
const STORE_VAR: &str = "PYK_CLIENT_TEST_STORE";
const WRITE_KEY_VAR: &str = "PYK_CLIENT_TEST_WRITE_KEY";

fn key() -> Key {
    Key::from_config(PASS)
}

/// Not a test: the server the tests talk to, when this binary is run again with
/// `--ignored --exact serve` and a store in the environment.
#[test]
#[ignore = "the server process of the other tests"]
fn serve() {
    let Some(store) = std::env::var_os(STORE_VAR) else {
        return;
    };
    let mut config = pyk_server::ServeConfig::new(key());
    config.store = StoreConfig::Embedded {
        path: PathBuf::from(store),
    };
    config.addr = "127.0.0.1:0".parse().unwrap();
    if let Ok(write) = std::env::var(WRITE_KEY_VAR) {
        config.write_key = Key::from_config(&write);
    }
    pyk_server::serve(config).unwrap();
}

/// A server process on a store of its own, killed when dropped.
struct Server {
    child: Child,
    url: String,
    store: tempfile::TempDir,
}

impl Server {
    fn start(write_key: Option<&Key>) -> Server {
        let store = tempfile::tempdir().unwrap();
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--ignored", "--exact", "serve", "--nocapture"])
            .env(STORE_VAR, store.path())
            .envs(write_key.map(|k| (WRITE_KEY_VAR, k.as_str())))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let banner = lines.next().expect("the server said nothing").unwrap();
        let url = banner.rsplit(' ').next().unwrap().to_owned();
        assert!(url.starts_with("http://127.0.0.1:"), "{banner}");
        std::thread::spawn(move || lines.for_each(drop));
        Server { child, url, store }
    }

    fn client(&self) -> Client {
        client(&self.url, &key())
    }

    /// The stored file of a blob.
    fn blob_file(&self, sha256: &Sha256) -> PathBuf {
        let hex = sha256.to_string();
        self.store.path().join("blobs").join(&hex[..2]).join(hex)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client(url: &str, key: &Key) -> Client {
    Client::new(url, key, key, "client-tests", Duration::from_secs(2))
}

fn app() -> PackageRef {
    PackageRef::new(Kind::Run, "app").unwrap()
}

/// Uploads `parts` of a file (unless the server has them) and publishes them.
fn publish(client: &Client, package: &PackageRef, parts: &[&[u8]], version: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("artifact");
    fs::write(&file, parts.concat()).unwrap();
    let mut blobs = Vec::new();
    let mut offset = 0;
    for part in parts {
        let sha256 = Sha256::of(part);
        let len = part.len() as u64;
        if !client.has_blob(&sha256).unwrap() {
            client
                .upload_blob(&sha256, &file, offset, len, &Quiet)
                .unwrap();
        }
        assert!(client.has_blob(&sha256).unwrap());
        blobs.push(BlobRef {
            sha256: sha256.to_string(),
            size: len,
        });
        offset += len;
    }
    let request = PublishRequest {
        artifact_sha256: Sha256::of(&parts.concat()).to_string(),
        size: offset,
        python: "3.11".into(),
        blobs,
        version: version.map(str::to_owned),
        promote: true,
        format: "pyk".into(),
        executable: true,
        signed_localname: None,
        signature: None,
        latest: None,
        api: None,
        platforms: Vec::new(),
    };
    client.publish(package, &request).unwrap();
}

/// What a directory holds, temp files included.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<_> = fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn publish_read_and_move_versions() {
    let server = Server::start(None);
    let c = server.client();
    let app = app();
    let (runtime, v1) = (vec![7u8; 300_000], b"app v1".to_vec());
    publish(&c, &app, &[&runtime, &v1], None);

    let m = c.current(&app, None).unwrap().unwrap();
    assert_eq!((m.version.as_str(), m.kind), ("1", Kind::Run));
    assert_eq!(c.current(&app, Some(&m.etag())).unwrap(), None, "304");
    assert_eq!(
        c.version(&app, "1", Some(&m.etag())).unwrap(),
        None,
        "a version answers with the same ETag"
    );

    // Blobs come back decrypted and whole, and only once in place.
    let dir = tempfile::tempdir().unwrap();
    for (blob, bytes) in m.blobs.iter().zip([&runtime, &v1]) {
        let sha256: Sha256 = blob.sha256.parse().unwrap();
        let path = c
            .download_blob(&sha256, blob.size, dir.path(), &Quiet)
            .unwrap();
        assert_eq!(&fs::read(path).unwrap(), bytes);
    }
    assert_eq!(entries(dir.path()).len(), 2);

    // Versions, the latest pointer, local names.
    publish(&c, &app, &[&runtime, b"app v2"], Some("2.0"));
    assert_eq!(
        c.current(&app, Some(&m.etag())).unwrap().unwrap().version,
        "2.0"
    );
    assert_eq!(c.promote(&app, "1").unwrap().version, "1");
    assert!(c.yank(&app, "2.0", true).unwrap().yanked);
    c.set_localname(&app, "app.bin").unwrap();
    let list = c.versions(&app).unwrap();
    assert_eq!(list.latest.as_deref(), Some("1"));
    assert_eq!(list.localname.as_deref(), Some("app.bin"));
    assert_eq!(list.versions.len(), 2);
    let summary = c.list().unwrap();
    assert_eq!(
        (summary[0].kind, summary[0].name.as_str()),
        (Kind::Run, "app")
    );

    // The server's refusals, each its own variant.
    let err = c.remove_version(&app, "1", false).unwrap_err();
    assert!(
        matches!(&err, Error::Refused { status: 409, message, .. } if message.contains("force")),
        "{err:?}"
    );
    let err = c.version(&app, "9", None).unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    let lib = PackageRef::new(Kind::Lib, "app").unwrap();
    assert!(matches!(c.current(&lib, None), Err(Error::NotFound { .. })));
    // Names and versions no server takes are refused before anything is sent.
    for bad in ["../1", "latest", ""] {
        let err = c.promote(&app, bad).unwrap_err();
        assert!(matches!(err, Error::Invalid(_)), "{bad}: {err:?}");
    }
    assert!(matches!(
        c.set_localname(&app, "a/b"),
        Err(Error::Invalid(_))
    ));

    // Watch: a timeout, then a change.
    assert_eq!(c.watch(&app, "1", 1).unwrap(), None);
    assert_eq!(c.watch(&app, "0", 1).unwrap().unwrap().version, "1");

    c.remove_version(&app, "2.0", false).unwrap();
    c.remove(&app).unwrap();
    assert!(matches!(c.remove(&app), Err(Error::NotFound { .. })));
}

#[test]
fn keys_are_told_apart() {
    let write_key = Key::generate();
    let server = Server::start(Some(&write_key));
    let reader = server.client();
    let writer = Client::new(&server.url, &key(), &write_key, "", Duration::from_secs(2));
    publish(&writer, &app(), &[b"bytes"], None);
    assert_eq!(reader.current(&app(), None).unwrap().unwrap().version, "1");
    assert!(matches!(
        reader.promote(&app(), "1"),
        Err(Error::ReadOnlyKey { .. })
    ));
    let stranger = client(&server.url, &Key::generate());
    assert!(matches!(stranger.list(), Err(Error::BadKey { .. })));
}

#[test]
fn no_answer_is_unreachable_within_the_timeout() {
    // Nothing listens.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = client(&format!("http://127.0.0.1:{port}"), &key());
    let err = c.list().unwrap_err();
    assert!(matches!(err, Error::Unreachable { .. }) && err.is_network());

    // Something listens and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let c = client(&format!("http://{}", silent.local_addr().unwrap()), &key());
    let started = Instant::now();
    let err = c.current(&app(), None).unwrap_err();
    assert!(matches!(err, Error::Unreachable { .. }), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );

    // A URL that makes no request is a failure too, not a panic.
    assert!(client("http://bad host", &key())
        .list()
        .unwrap_err()
        .is_network());
}

#[test]
fn a_download_that_breaks_off_or_stalls_is_a_network_failure() {
    let server = Server::start(None);
    let c = server.client();
    let body = vec![3u8; 500_000];
    publish(&c, &app(), &[&body], None);
    let sha256 = Sha256::of(&body);
    for cut in [Cut::Close, Cut::Stall] {
        let through = client(&proxy(&server.url, cut), &key());
        // The manifest passes; the blob's body is cut half-way.
        assert_eq!(through.current(&app(), None).unwrap().unwrap().version, "1");
        let dir = tempfile::tempdir().unwrap();
        let started = Instant::now();
        let err = through
            .download_blob(&sha256, body.len() as u64, dir.path(), &Quiet)
            .unwrap_err();
        assert!(matches!(err, Error::Stalled { .. }), "{cut:?}: {err:?}");
        assert!(err.is_network());
        assert!(started.elapsed() < Duration::from_secs(10), "{cut:?}");
        assert_eq!(entries(dir.path()), Vec::<String>::new(), "{cut:?}");
    }
}

#[test]
fn damaged_blobs_are_refused_and_not_kept() {
    let server = Server::start(None);
    let c = server.client();
    let (a, b) = (vec![1u8; 100_000], vec![2u8; 100_000]);
    publish(&c, &app(), &[&a, &b], None);
    let (sha_a, sha_b) = (Sha256::of(&a), Sha256::of(&b));
    let dir = tempfile::tempdir().unwrap();

    // Another blob under this one's name decrypts, but hashes to its own name.
    fs::copy(server.blob_file(&sha_a), server.blob_file(&sha_b)).unwrap();
    let err = c
        .download_blob(&sha_b, 100_000, dir.path(), &Quiet)
        .unwrap_err();
    assert!(
        matches!(err, Error::Damaged { damage: Damage::Hash(got), .. } if got == sha_a),
        "{err:?}"
    );

    // A flipped byte fails a frame's HMAC.
    let mut bytes = fs::read(server.blob_file(&sha_a)).unwrap();
    bytes[50_000] ^= 1;
    fs::write(server.blob_file(&sha_a), bytes).unwrap();
    let err = c
        .download_blob(&sha_a, 100_000, dir.path(), &Quiet)
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Damaged {
                damage: Damage::Blob(_),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().starts_with("refusing blob "), "{err}");
    assert!(!err.is_network());
    assert_eq!(entries(dir.path()), Vec::<String>::new());
}
