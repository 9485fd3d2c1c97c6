//! A real server process on 127.0.0.1, and a client that signs its requests with
//! pyk-client and reads the answers as they come.
#![allow(dead_code)] // each test file uses its own part of this kit

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pyk_client::Body;
use pyk_crypto::blob::BlobWriter;
use pyk_crypto::Key;
use pyk_protocol::api::{BlobRef, Manifest, PublishRequest, PublishResponse};
use pyk_protocol::Sha256;
use ureq::http::Request;
use ureq::AsSendBody;

pub const PASS: &str = "test passphrase";

pub fn key() -> Key {
    Key::from_config(PASS)
}

pub struct Server {
    child: Child,
    pub base: String,
    pub store: PathBuf,
    /// The first line: what the server serves, and where.
    pub banner: String,
    log: Arc<Mutex<String>>,
}

impl Server {
    /// Starts `pyk-server -v STORE 127.0.0.1:0` with `env` and waits for its banner.
    pub fn start(store: &Path, env: &[(&str, &str)]) -> Server {
        Server::spawn(store, env, true, &[])
    }

    /// With more options before STORE (`--metrics-addr=…`).
    pub fn start_with_args(store: &Path, env: &[(&str, &str)], args: &[&str]) -> Server {
        Server::spawn(store, env, true, args)
    }

    /// Without the request log (for benchmarks).
    pub fn start_quiet(store: &Path, env: &[(&str, &str)]) -> Server {
        Server::spawn(store, env, false, &[])
    }

    fn spawn(store: &Path, env: &[(&str, &str)], verbose: bool, args: &[&str]) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pyk-server"));
        if verbose {
            cmd.arg("-v");
        }
        cmd.args(args);
        cmd.arg(store).arg("127.0.0.1:0").env("PYK_KEY", PASS);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let banner = lines.next().expect("server printed nothing").unwrap();
        let base = banner
            .rsplit(" on ")
            .next()
            .filter(|base| base.starts_with("http://"))
            .unwrap_or_else(|| panic!("unexpected banner {banner:?}"))
            .to_owned();
        assert!(banner.starts_with("pyk: serving "), "{banner}");
        let log = Arc::new(Mutex::new(String::new()));
        let sink = log.clone();
        // Keep draining stderr, or a chatty server would block on a full pipe.
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        Server {
            child,
            base,
            store: store.to_owned(),
            banner,
            log,
        }
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(ok.success());
    }

    pub fn sigkill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    pub fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < within {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn client(&self) -> Client {
        Client::new(&self.base, key())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Reply {
    pub status: u16,
    pub etag: Option<String>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{e}: {} {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn error(&self) -> String {
        self.json::<pyk_protocol::api::ErrorBody>().error
    }
}

impl From<pyk_client::Reply> for Reply {
    fn from(r: pyk_client::Reply) -> Reply {
        Reply {
            status: r.status,
            etag: r.etag,
            body: r.body,
        }
    }
}

/// A request body, as the tests write them.
pub trait IntoBody {
    fn into_body(self) -> Body;
}

impl IntoBody for () {
    fn into_body(self) -> Body {
        Body::Empty
    }
}

impl IntoBody for &[u8] {
    fn into_body(self) -> Body {
        Body::Bytes(self.to_vec())
    }
}

impl IntoBody for Vec<u8> {
    fn into_body(self) -> Body {
        Body::Bytes(self)
    }
}

impl IntoBody for &str {
    fn into_body(self) -> Body {
        Body::Bytes(self.as_bytes().to_vec())
    }
}

impl IntoBody for String {
    fn into_body(self) -> Body {
        Body::Bytes(self.into_bytes())
    }
}

/// A test's view of a repository: requests go out through pyk-client, signed with
/// `key` whatever their method (so a write key's reads are tested too), and come back
/// as they are (status, ETag, body).
pub struct Client {
    pub base: String,
    pub key: Key,
    /// Blobs are encrypted with the read key, whoever uploads them.
    pub blob_key: Key,
    pub node: Option<String>,
}

impl Client {
    pub fn new(base: &str, key: Key) -> Client {
        Client {
            base: base.to_owned(),
            blob_key: key.clone(),
            key,
            node: None,
        }
    }

    /// The pyk-client that signs this test client's requests.
    fn signer(&self) -> pyk_client::Client {
        pyk_client::Client::new(
            &self.base,
            &self.key,
            &self.key,
            self.node.as_deref().unwrap_or(""),
            Duration::from_secs(60),
        )
    }

    /// A request signed for its own method and path, with `extra` headers.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        extra: &[(&str, &str)],
        body: impl IntoBody,
    ) -> Reply {
        self.signer()
            .send(method, path, extra, body.into_body())
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
            .into()
    }

    /// A request with the `Authorization` given (or none): a token the test made,
    /// forged or left out, which pyk-client (signing every request) cannot send.
    pub fn send_raw(
        &self,
        method: &str,
        path: &str,
        auth: Option<&str>,
        extra: &[(&str, &str)],
        body: impl AsSendBody,
    ) -> Reply {
        self.try_send(method, path, auth, extra, body).unwrap()
    }

    /// Like `send_raw`, but a failed exchange is an error, not a panic.
    pub fn try_send(
        &self,
        method: &str,
        path: &str,
        auth: Option<&str>,
        extra: &[(&str, &str)],
        body: impl AsSendBody,
    ) -> Result<Reply, String> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .proxy(None)
            .build()
            .into();
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(auth) = auth {
            req = req.header("Authorization", auth);
        }
        if let Some(node) = &self.node {
            req = req.header("X-Pyk-Node", node);
        }
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        let request = req.body(body).map_err(|e| e.to_string())?;
        let response = agent.run(request).map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let etag = response
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut body = Vec::new();
        response
            .into_body()
            .into_reader()
            .read_to_end(&mut body)
            .map_err(|e| e.to_string())?;
        Ok(Reply { status, etag, body })
    }

    pub fn get(&self, path: &str) -> Reply {
        self.send("GET", path, &[], ())
    }

    pub fn put_blob(&self, sha: &str, encrypted: &[u8]) -> Reply {
        self.send("PUT", &format!("/v1/blobs/{sha}"), &[], encrypted)
    }

    pub fn publish(&self, kind: &str, name: &str, request: &PublishRequest) -> Reply {
        let body = serde_json::to_vec(request).unwrap();
        self.send(
            "POST",
            &format!("/v1/packages/{kind}/{name}"),
            &[("Content-Type", "application/json")],
            body,
        )
    }

    /// Uploads `parts` as blobs and publishes them as one package version.
    pub fn publish_parts(&self, kind: &str, name: &str, parts: &[&[u8]]) -> PublishResponse {
        let request = self.upload_parts(parts);
        let r = self.publish(kind, name, &request);
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        r.json()
    }

    /// Uploads `parts` as blobs; the request that would publish them (automatic
    /// version, promoted).
    pub fn upload_parts(&self, parts: &[&[u8]]) -> PublishRequest {
        let mut blobs = Vec::new();
        let mut whole = Vec::new();
        for part in parts {
            let (sha, encrypted) = encrypt(&self.blob_key, part);
            let r = self.put_blob(&sha, &encrypted);
            assert!(
                r.status == 201 || r.status == 200,
                "{} {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            );
            blobs.push(BlobRef {
                sha256: sha,
                size: part.len() as u64,
            });
            whole.extend_from_slice(part);
        }
        request(sha256_hex(&whole), whole.len() as u64, blobs)
    }

    pub fn manifest(&self, kind: &str, name: &str) -> Option<Manifest> {
        let r = self.get(&format!("/v1/packages/{kind}/{name}"));
        match r.status {
            200 => Some(r.json()),
            404 => None,
            s => panic!("unexpected status {s}"),
        }
    }
}

/// A publish request with the defaults an older client gets: automatic version,
/// promoted, a pyk executable.
pub fn request(artifact_sha256: String, size: u64, blobs: Vec<BlobRef>) -> PublishRequest {
    PublishRequest {
        artifact_sha256,
        size,
        python: "3.11".into(),
        blobs,
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

pub fn sha256_hex(data: &[u8]) -> String {
    Sha256::of(data).to_string()
}

/// The blob id and encrypted form of `plain`.
pub fn encrypt(key: &Key, plain: &[u8]) -> (String, Vec<u8>) {
    let mut w = BlobWriter::new(key, Vec::new()).unwrap();
    w.write_all(plain).unwrap();
    let (out, _) = w.finish().unwrap();
    (sha256_hex(plain), out)
}

/// Distinct, incompressible-looking test data.
pub fn data(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
        | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}
