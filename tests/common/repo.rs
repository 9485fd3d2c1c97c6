//! A real repository for the end-to-end tests: a `pyk serve` process on 127.0.0.1 and
//! client machines, each with its own cache, config and Python user site.

use std::io::{BufRead, BufReader, Lines};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};

use pyk_crypto::sign::SigningKey;

use super::*;

pub const KEY: &str = "test passphrase";

/// The publisher key every test machine signs with, and trusts.
pub fn signing_key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::generate().unwrap())
}

/// A `pyk serve` process on a free loopback port, killed when dropped.
pub struct Server {
    pub child: Child,
    pub url: String,
    pub store: PathBuf,
    /// The request log (`pyk serve -v`), one line a request, as it is written.
    pub log: Arc<Mutex<Vec<String>>>,
}

/// The blobs fetched (`GET /v1/blobs/<sha>`) in `lines` of a server's log, in order,
/// repeats included.
pub fn blobs_fetched(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter_map(|line| {
            let at = line.find("GET /v1/blobs/")? + "GET /v1/blobs/".len();
            Some(line.get(at..at + 64)?.to_owned())
        })
        .collect()
}

impl Server {
    /// How many lines the server has logged: where the next client's requests start.
    pub fn mark(&self) -> usize {
        self.log_since(usize::MAX);
        self.log.lock().unwrap().len()
    }

    /// The request log from line `from` on. A request's line is written once its answer
    /// has been sent: the last ones are let land first.
    pub fn log_since(&self, from: usize) -> Vec<String> {
        std::thread::sleep(std::time::Duration::from_millis(200));
        let log = self.log.lock().unwrap();
        log[from.min(log.len())..].to_vec()
    }

    pub fn start(store: &Path, port: u16) -> Server {
        Server::start_with_keys(store, port, KEY, None)
    }

    /// A server whose writes need `write_key` (reads take `key` or `write_key`).
    pub fn start_with_keys(store: &Path, port: u16, key: &str, write_key: Option<&str>) -> Server {
        Server::start_with_args(store, port, key, write_key, &[])
    }

    /// A server started with more `pyk serve` arguments (`--clients DIR`).
    pub fn start_with_args(
        store: &Path,
        port: u16,
        key: &str,
        write_key: Option<&str>,
        args: &[&str],
    ) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pyk"))
            .args([
                "serve",
                "-v",
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
            ])
            .args(args)
            .arg(store)
            .env("PYK_KEY", key)
            .env("HOME", store.parent().unwrap())
            .envs(write_key.map(|w| ("PYK_WRITE_KEY", w)))
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (_, url, lines) = banner(&mut child);
        // Keep draining the request log so the server never blocks on a full pipe.
        let log = Arc::new(Mutex::new(Vec::new()));
        let kept = log.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                kept.lock().unwrap().push(line);
            }
        });
        Server {
            child,
            url,
            store: store.to_path_buf(),
            log,
        }
    }

    pub fn port(&self) -> u16 {
        self.url.rsplit(':').next().unwrap().parse().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A machine: its own cache, config dir and user site, talking to `server`.
pub struct Client {
    pub home: tempfile::TempDir,
    pub url: String,
    pub key: String,
    pub write_key: Option<String>,
}

impl Client {
    /// A machine that signs with [`signing_key`] and trusts it.
    pub fn new(server: &Server) -> Client {
        let client = Client {
            home: tempfile::tempdir().unwrap(),
            url: server.url.clone(),
            key: KEY.into(),
            write_key: None,
        };
        client.trust(&[&signing_key().public().to_string()]);
        client
    }

    /// Replaces the keys this machine trusts (kept in its own config file, `$PYK_CONFIG`,
    /// so tests may write `config.toml` as they like).
    pub fn trust(&self, keys: &[&str]) {
        let list: Vec<String> = keys.iter().map(|k| format!("{k:?}")).collect();
        fs::write(
            self.trust_file(),
            format!("trusted = [{}]\n", list.join(", ")),
        )
        .unwrap();
    }

    fn trust_file(&self) -> PathBuf {
        self.home.path().join("trust.toml")
    }

    pub fn cache(&self) -> PathBuf {
        self.home.path().join("cache")
    }

    pub fn env(&self, cmd: &mut Command) {
        cmd.env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.home.path().join("config"))
            .env("PYTHONUSERBASE", self.home.path().join("userbase"))
            .env("PYK_SERVER", &self.url)
            .env("PYK_KEY", &self.key)
            .envs(self.write_key.as_ref().map(|w| ("PYK_WRITE_KEY", w)))
            .env("PYK_CACHE_DIR", self.cache())
            .env("PYK_TIMEOUT", "2")
            .env("PYK_CONFIG", self.trust_file())
            .env("PYK_SIGNING_KEY", signing_key().to_text())
            .env_remove("PYK_PYTHON");
    }

    pub fn pyk(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pyk"));
        self.env(&mut cmd);
        cmd
    }

    pub fn python(&self) -> Command {
        let mut cmd = Command::new(SYSTEM_PYTHON);
        self.env(&mut cmd);
        cmd
    }
}

/// An app printing its version marker and arguments.
pub fn app(marker: &str) -> tempfile::TempDir {
    project(&[
        ("pyk.toml", "name = \"app\"\nrun = \"app.py\"\n"),
        ("app.py", &format!("import os, sys\nprint({marker:?}, os.environ['PYK_PACKAGE'], os.environ['PYK_VERSION'], *sys.argv[1:])\nsys.exit(3 if 'fail' in sys.argv else 0)\n")),
    ])
}

/// Publishes `dir` from a publisher machine that shares the build cache (one runtime
/// import for the whole suite); returns what publish printed.
pub fn publish(server: &Server, dir: &Path) -> String {
    publish_with(server, dir, &[])
}

/// `pyk publish ARGS…` from a publisher machine.
pub fn publish_with(server: &Server, dir: &Path, args: &[&str]) -> String {
    let publisher = Client::new(server);
    let out = run(publisher
        .pyk()
        .env("PYK_CACHE_DIR", build_cache())
        .current_dir(dir)
        .args(["publish", "--python", PY])
        .args(args));
    assert!(
        out.status.success(),
        "publish failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The variables that reach the test SeaweedFS (AWS's usual names, which `[store]`
/// falls back to).
pub fn aws() -> Option<Vec<(&'static str, String)>> {
    let weed = pyk_s3::seaweedfs::shared()?;
    Some(vec![
        ("AWS_ENDPOINT_URL", weed.endpoint().to_owned()),
        (
            "AWS_ACCESS_KEY_ID",
            pyk_s3::seaweedfs::ACCESS_KEY.to_owned(),
        ),
        (
            "AWS_SECRET_ACCESS_KEY",
            pyk_s3::seaweedfs::SECRET_KEY.to_owned(),
        ),
    ])
}

/// `pyk serve --store s3://…` on a free loopback port, killed when dropped.
pub struct S3Server {
    child: Child,
    pub url: String,
}

impl S3Server {
    pub fn start(store: &str, aws: &[(&str, String)]) -> S3Server {
        S3Server::start_with_args(store, aws, &[])
    }

    /// A server started with more `pyk serve` arguments (`--retention FILE`).
    pub fn start_with_args(store: &str, aws: &[(&str, String)], args: &[&str]) -> S3Server {
        let home = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_pyk"))
            .args([
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--store",
                store,
            ])
            .args(args)
            .env("PYK_KEY", KEY)
            .env("HOME", home.path())
            .envs(aws.iter().cloned())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (first, url, lines) = banner(&mut child);
        assert!(first.contains(store), "{first}");
        std::thread::spawn(move || lines.for_each(drop));
        S3Server { child, url }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The first line a `pyk serve` started with its stderr piped writes, the loopback URL that
/// line ends with, and the rest of its stderr.
fn banner(child: &mut Child) -> (String, String, Lines<BufReader<ChildStderr>>) {
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let url = first.rsplit(' ').next().unwrap().to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{first}");
    (first, url, lines)
}

pub fn server() -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("pyk.db"), 0);
    (dir, server)
}
