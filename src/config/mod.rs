//! Client and server configuration: `/etc/pyk/config.toml`, then
//! `~/.config/pyk/config.toml`, then environment variables, then flags; later sources
//! override earlier ones.
//!
//! Keys (the original pyk's upper-case spellings are accepted too):
//! `key`/`KEY` (passphrase or Fernet key), `write_key` (publishing, if kept apart),
//! `server` (URL) or `host`/`HOST` + `port`/`PORT`, `timeout` (seconds the runner waits
//! for the server before running its cached copy), `deadline` (seconds the runner's
//! update check may take in all), `min_rate` (the slowest average rate of a download,
//! e.g. `"64KiB"` a second), `python_mirror`, `node` (this
//! machine's name in server logs), `signing_key` (a publisher's private key: a file, or
//! the key itself), `trusted` (the public keys whose packages this machine runs),
//! `shared_cache` (an administrator's read-only cache, looked up first; see
//! `pyk_cache::root`), `ca_bundle` (a PEM file of CA certificates every HTTPS connection
//! trusts besides the system store: a company CA; relative to the config file).
//! Environment: `PYK_KEY`, `PYK_WRITE_KEY`, `PYK_SERVER`, `PYK_TIMEOUT`, `PYK_DEADLINE`,
//! `PYK_MIN_RATE`, `PYK_PYTHON_MIRROR`, `PYK_NODE`, `PYK_SIGNING_KEY`, `PYK_CA_BUNDLE`,
//! `PYK_CONFIG` (one more file, read
//! last). `[pins]` maps package names to the version this machine runs (`foo = "1.3.0"`);
//! `[trusted_for]` maps package names to the only keys trusted for them.
//! Values may come from the environment (see [`env`]), and `dotenv` names a file of
//! `NAME=value` lines that count as environment. `[store]` says how to reach a bucket
//! (see [`store`]); a `server` of `s3://bucket/prefix` makes this machine read (and,
//! with write credentials, publish to) that bucket directly.
//!
//! A key this file does not know is an error naming the file and the line, like a typo
//! in pyk.toml: `write-key` for `write_key` once left a server open to every reader.
//!
//! Errors are reported where they matter: loading never fails, and each part of the
//! config (the server, the keys, pins, trust, the mirror…) fails when a command reads it
//! and its key is bad. A malformed pin does not stop `pyk build`. A file that does not
//! parse, or holds a key pyk does not know, fails every part, since what it meant is
//! unknown; commands that read no config at all (a build from a cached runtime, `pyk
//! runtime import`, `pyk cache`) still run.

mod env;
pub mod store;

mod signing;

use std::collections::BTreeMap;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use pyk_client::{Deadlines, Trust};
use pyk_crypto::sign::{PublicKey, SigningKey};
use pyk_crypto::Key;

use pyk_static::EnvVars;
use signing::SigningSource;
pub use signing::{create_key, default_key_path, own_key};

/// The default repository port, as in the original pyk.
pub const DEFAULT_PORT: u16 = 7777;

/// Bytes a second, as a number (`65536`) or a size (`64KiB`, `1MB`).
fn rate(text: &str) -> Option<u64> {
    let text = text.trim();
    text.parse()
        .ok()
        .or_else(|| text.parse::<bytesize::ByteSize>().ok().map(|b| b.as_u64()))
}

#[derive(Debug)]
pub struct Config {
    /// The read key, and where it came from (for error messages).
    pub key: Option<(Key, String)>,
    /// The publishing key; the read key when not set apart.
    pub write_key: Option<(Key, String)>,
    /// Base URL of the repository, e.g. `http://host:7777`.
    pub server: Option<String>,
    /// How long the runner waits for the server before falling back to its cache.
    timeout: Duration,
    /// How long the runner's update check may take in all, and how slow its downloads.
    deadlines: Deadlines,
    python_mirror: Option<String>,
    node: String,
    /// Host and port `pyk serve` listens on, when HOST/PORT set them.
    listen: Option<(String, u16)>,
    /// Package name → the version this machine is pinned to.
    pins: BTreeMap<String, String>,
    /// `[store]`: reaching a bucket.
    store: store::StoreTable,
    /// Keys whose packages this machine runs (none: run anything, with a warning).
    trusted: Vec<PublicKey>,
    /// Package name → the only keys trusted for it.
    trusted_for: BTreeMap<String, Vec<PublicKey>>,
    /// The publisher's private key, read when something is signed.
    signing_key: Option<SigningSource>,
    /// The administrator's read-only cache (`PYK_SHARED_CACHE` wins over it).
    shared_cache: Option<PathBuf>,
    /// An extra CA bundle, and where it was set ([`Config::trust_ca_bundle`]).
    ca_bundle: Option<(PathBuf, String)>,
    /// What was wrong, by the (lower-case) key it concerns; `*` for the whole config.
    problems: Vec<(String, String)>,
}

/// The whole config is in doubt (a file that does not parse, an unknown key).
const EVERYTHING: &str = "*";

/// The keys a config file knows (compared without regard to case).
const KNOWN: &[&str] = &[
    "key",
    "write_key",
    "server",
    "host",
    "port",
    "timeout",
    "deadline",
    "min_rate",
    "python_mirror",
    "pins",
    "node",
    "dotenv",
    "signing_key",
    "trusted",
    "trusted_for",
    "store",
    "shared_cache",
    "ca_bundle",
];

impl Default for Config {
    fn default() -> Self {
        Config {
            key: None,
            write_key: None,
            server: None,
            timeout: Duration::from_secs(2),
            deadlines: Deadlines {
                check: Duration::from_secs(10),
                min_rate: 64 * 1024,
            },
            python_mirror: None,
            node: node_name(),
            listen: None,
            pins: BTreeMap::new(),
            store: store::StoreTable::default(),
            trusted: Vec::new(),
            trusted_for: BTreeMap::new(),
            signing_key: None,
            shared_cache: None,
            ca_bundle: None,
            problems: Vec::new(),
        }
    }
}

impl Config {
    /// Reads every config file and the environment. Never fails: what is wrong is kept
    /// and reported by the accessor of the part it concerns.
    pub fn load() -> Config {
        let mut config = Config::default();
        let mut env = env::Env::default();
        for path in Self::files() {
            let text = match std::fs::read_to_string(&path) {
                Ok(text) => text,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    // The fixed places may hold no file; one PYK_CONFIG names must exist.
                    if std::env::var_os(EnvVars::PYK_CONFIG).as_deref() == Some(path.as_os_str()) {
                        config.problem(
                            EVERYTHING,
                            format!("PYK_CONFIG names {}, which does not exist", path.display()),
                        );
                    }
                    continue;
                }
                Err(e) => {
                    config.problem(
                        EVERYTHING,
                        format!("cannot read config {}: {e}", path.display()),
                    );
                    continue;
                }
            };
            if let Err(e) = config.apply_file(&path, &text, &mut env) {
                config.problem(EVERYTHING, format!("{e:#}"));
            }
        }
        config.apply_env(&env);
        config
    }

    fn problem(&mut self, key: &str, error: String) {
        self.problems.push((key.to_owned(), error));
    }

    /// Fails with the first problem of the config that concerns `keys`.
    fn check(&self, keys: &[&str]) -> Result<()> {
        match self
            .problems
            .iter()
            .find(|(k, _)| k == EVERYTHING || keys.contains(&k.as_str()))
        {
            Some((_, error)) => bail!("{error}"),
            None => Ok(()),
        }
    }

    fn files() -> Vec<PathBuf> {
        pyk_static::config_files(|name| std::env::var_os(name))
    }

    fn apply_file(&mut self, path: &Path, text: &str, env: &mut env::Env) -> Result<()> {
        let shown = path.display();
        let line_of = |start: usize| text[..start].matches('\n').count() + 1;
        let mut table: toml::Table = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| format!(":{}", line_of(s.start)));
            anyhow::anyhow!(
                "config {shown}{}: {}",
                line.unwrap_or_default(),
                e.message().trim()
            )
        })?;
        // Where each key is, for errors: `config FILE:LINE: …`.
        let lines: BTreeMap<String, usize> = toml::de::DeTable::parse(text)
            .map(|t| {
                t.get_ref()
                    .keys()
                    .map(|k| (k.get_ref().to_string(), line_of(k.span().start)))
                    .collect()
            })
            .unwrap_or_default();
        let at = |k: &str| match lines.get(k) {
            Some(line) => format!("config {shown}:{line}"),
            None => format!("config {shown}"),
        };
        for k in table.keys() {
            let lower = k.to_ascii_lowercase();
            if !KNOWN.contains(&lower.as_str()) {
                let near = lower.replace('-', "_");
                let hint = KNOWN
                    .iter()
                    .find(|known| **known == near)
                    .map(|known| format!(" (did you mean `{known}`?)"))
                    .unwrap_or_default();
                bail!("{}: unknown key `{k}`{hint}", at(k));
            }
        }
        if let Some(toml::Value::String(dotenv)) = table.get("dotenv") {
            let dir = path.parent().unwrap_or(Path::new("."));
            env.load_dotenv(&config_path(dir, dotenv))?;
        }
        env.resolve(&mut table, &shown.to_string())?;
        let mut host = None;
        let mut port = None;
        for (k, value) in &table {
            if let Err(e) = self.apply_key(path, k, value, &at, &mut host, &mut port) {
                self.problem(&k.to_ascii_lowercase(), format!("{e:#}"));
            }
        }
        // The launcher reads this one key without a TOML parser: only a spelling it reads
        // the same way is accepted.
        let shared_cache = table
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("shared_cache"))
            .and_then(|(_, v)| v.as_str())
            .map(PathBuf::from);
        if shared_cache != pyk_cache::root::shared_cache_in(text) {
            self.problem(
                "shared_cache",
                format!(
                    "{}: write `shared_cache = \"/absolute/path\"` on a line of its own, before any [table]: launchers read it without a TOML parser",
                    at("shared_cache")
                ),
            );
        }
        if host.is_some() || port.is_some() {
            let (default_host, default_port) = self.listen.clone().unwrap_or(default_listen());
            let host = host.unwrap_or(default_host);
            let port = port.unwrap_or(default_port);
            // An explicit `server` in the same file wins over HOST/PORT.
            if !table.keys().any(|k| k.eq_ignore_ascii_case("server")) {
                self.server = Some(format!("http://{}:{port}", connect_host(&host)));
            }
            self.listen = Some((host, port));
        }
        Ok(())
    }

    /// One key of a config file.
    fn apply_key(
        &mut self,
        path: &Path,
        k: &str,
        value: &toml::Value,
        at: &dyn Fn(&str) -> String,
        host: &mut Option<String>,
        port: &mut Option<u16>,
    ) -> Result<()> {
        let shown = path.display();
        let text = || -> Result<String> {
            match value {
                toml::Value::String(s) => Ok(s.clone()),
                _ => bail!("{}: `{k}` must be a string", at(k)),
            }
        };
        match k.to_ascii_lowercase().as_str() {
            "key" => self.key = Some((Key::from_config(&text()?), format!("`{k}` in {shown}"))),
            "write_key" => {
                self.write_key = Some((Key::from_config(&text()?), format!("`{k}` in {shown}")))
            }
            "server" => self.server = Some(normalize_server(&text()?)),
            "host" => *host = Some(text()?),
            "port" => {
                let n = match value {
                    toml::Value::Integer(n) => u16::try_from(*n).ok(),
                    toml::Value::String(s) => s.parse().ok(),
                    _ => None,
                };
                *port = Some(n.with_context(|| format!("{}: `{k}` must be a port number", at(k)))?);
            }
            "timeout" => {
                let secs = match value {
                    toml::Value::Integer(n) if *n > 0 => *n as f64,
                    toml::Value::Float(f) if *f > 0.0 => *f,
                    _ => bail!("{}: `{k}` must be a positive number of seconds", at(k)),
                };
                self.timeout = Duration::from_secs_f64(secs);
            }
            "deadline" => {
                self.deadlines.check = match value {
                    toml::Value::Integer(n) if *n > 0 => Duration::from_secs(*n as u64),
                    toml::Value::Float(f) if *f > 0.0 => Duration::from_secs_f64(*f),
                    _ => bail!("{}: `{k}` must be a positive number of seconds", at(k)),
                };
            }
            "min_rate" => {
                let rate = match value {
                    toml::Value::Integer(n) => u64::try_from(*n).ok(),
                    toml::Value::String(s) => rate(s),
                    _ => None,
                };
                self.deadlines.min_rate = rate.filter(|r| *r > 0).with_context(|| {
                    format!(
                        "{}: `{k}` must be bytes a second, a number or a size (\"64KiB\")",
                        at(k)
                    )
                })?;
            }
            "python_mirror" => self.python_mirror = Some(text()?),
            "pins" => {
                let toml::Value::Table(pins) = value else {
                    bail!("{}: `pins` must be a table of NAME = \"VERSION\"", at(k));
                };
                for (name, version) in pins {
                    let version = version.as_str().with_context(|| {
                        format!("config {shown}: pins.{name} must be a version string")
                    })?;
                    pyk_protocol::names::check_version(version)
                        .with_context(|| format!("config {shown}: pins.{name}"))?;
                    self.pins.insert(name.clone(), version.to_owned());
                }
            }
            "node" => self.node = text()?,
            "store" => self.store.apply(value, &shown.to_string())?,
            "dotenv" => {}
            "signing_key" => {
                let dir = path.parent().unwrap_or(Path::new("."));
                self.signing_key = Some(SigningSource::new(&text()?, dir, at(k)));
            }
            "ca_bundle" => {
                let dir = path.parent().unwrap_or(Path::new("."));
                self.ca_bundle = Some((config_path(dir, &text()?), format!("{}: `{k}`", at(k))));
            }
            "trusted" => self.trusted = public_keys(value, &format!("{}: `{k}`", at(k)))?,
            "shared_cache" => {
                let dir = PathBuf::from(text()?);
                if !dir.is_absolute() {
                    bail!("{}: `{k}` must be an absolute path", at(k));
                }
                self.shared_cache = Some(dir);
            }
            "trusted_for" => {
                let toml::Value::Table(packages) = value else {
                    bail!(
                        "{}: `{k}` must be a table of NAME = [\"pyk-ed25519:…\"]",
                        at(k)
                    );
                };
                for (name, keys) in packages {
                    let what = format!("config {shown}: {k}.{name}");
                    self.trusted_for
                        .insert(name.clone(), public_keys(keys, &what)?);
                }
            }
            // Unknown keys were refused above.
            _ => {}
        }
        Ok(())
    }

    fn apply_env(&mut self, env: &env::Env) {
        let env = |name: &str| env.get(name);
        if let Some(v) = env(EnvVars::PYK_KEY) {
            self.key = Some((Key::from_config(&v), EnvVars::PYK_KEY.into()));
        }
        if let Some(v) = env(EnvVars::PYK_WRITE_KEY) {
            self.write_key = Some((Key::from_config(&v), EnvVars::PYK_WRITE_KEY.into()));
        }
        if let Some(v) = env(EnvVars::PYK_SERVER) {
            self.server = Some(normalize_server(&v));
        }
        if let Some(v) = env(EnvVars::PYK_TIMEOUT) {
            match v.parse::<f64>().ok().filter(|s| *s > 0.0) {
                Some(secs) => self.timeout = Duration::from_secs_f64(secs),
                None => self.problem(
                    "timeout",
                    format!("PYK_TIMEOUT={v:?} is not a number of seconds"),
                ),
            }
        }
        if let Some(v) = env(EnvVars::PYK_DEADLINE) {
            match v.parse::<f64>().ok().filter(|s| *s > 0.0) {
                Some(secs) => self.deadlines.check = Duration::from_secs_f64(secs),
                None => self.problem(
                    "deadline",
                    format!("PYK_DEADLINE={v:?} is not a number of seconds"),
                ),
            }
        }
        if let Some(v) = env(EnvVars::PYK_MIN_RATE) {
            match rate(&v).filter(|r| *r > 0) {
                Some(rate) => self.deadlines.min_rate = rate,
                None => self.problem(
                    "min_rate",
                    format!("PYK_MIN_RATE={v:?} is not bytes a second (a number or \"64KiB\")"),
                ),
            }
        }
        if let Some(v) = env(EnvVars::PYK_PYTHON_MIRROR) {
            self.python_mirror = Some(v);
        }
        if let Some(v) = env(EnvVars::PYK_NODE) {
            self.node = v;
        }
        if let Some(v) = env(EnvVars::PYK_CA_BUNDLE) {
            self.ca_bundle = Some((
                config_path(Path::new("."), &v),
                EnvVars::PYK_CA_BUNDLE.into(),
            ));
        }
        if let Some(v) = env(EnvVars::PYK_SIGNING_KEY) {
            self.signing_key = Some(SigningSource::new(
                &v,
                Path::new("."),
                EnvVars::PYK_SIGNING_KEY.into(),
            ));
        }
    }

    /// Has every HTTPS connection of this process trust the `ca_bundle` too. A bundle
    /// that cannot be read is a problem of the parts that connect (the server, the
    /// mirror, the store), reported when a command reads them.
    pub fn trust_ca_bundle(&mut self) {
        let Some((path, at)) = &self.ca_bundle else {
            return;
        };
        match pyk_net::Bundle::read(path) {
            Ok(bundle) => pyk_net::trust_bundle(bundle),
            Err(e) => {
                let error = format!("{at}: {:#}", anyhow::Error::from(e));
                self.problem("ca_bundle", error);
            }
        }
    }

    /// The publisher's signing key, if one is configured (`none` is none).
    pub fn signing_key(&self) -> Result<Option<SigningKey>> {
        self.check(&["signing_key"])?;
        Ok(match &self.signing_key {
            Some(source) => source.load()?,
            None => None,
        })
    }

    /// Whether `signing_key = "none"` says to publish unsigned.
    pub fn signs_nothing(&self) -> bool {
        matches!(self.signing_key, Some(SigningSource::Off))
    }

    /// The keys this machine trusts; the newest `latest` accepted per package is kept
    /// under the cache root.
    pub fn trust(&self, cache_root: &Path) -> Result<Trust> {
        Ok(self
            .trusted_keys()?
            .remembering(cache_root.join("trust-v1")))
    }

    /// The shared cache the config names, if any (the environment's wins: see
    /// `pyk_cache::RootEnv`).
    ///
    /// Only a problem with this key fails: every command that opens the cache reads it,
    /// and a file that does not parse must still leave builds and `pyk cache` running
    /// (without a shared cache, which is only ever a shortcut).
    pub fn shared_cache(&self) -> Result<Option<&Path>> {
        if let Some((_, error)) = self.problems.iter().find(|(k, _)| k == "shared_cache") {
            bail!("{error}");
        }
        Ok(self.shared_cache.as_deref())
    }

    /// The keys this machine trusts, remembering nothing: what a publisher vouches for.
    pub fn trusted_keys(&self) -> Result<Trust> {
        self.check(&["trusted", "trusted_for"])?;
        Ok(Trust::new(self.trusted.clone(), self.trusted_for.clone()))
    }

    /// The keys this machine trusts for everything (`trusted`): what vouches for pyk
    /// itself, which no package's `[trusted_for]` names.
    pub fn trusted_everywhere(&self) -> Result<&[PublicKey]> {
        self.check(&["trusted"])?;
        Ok(&self.trusted)
    }

    /// The version this machine is pinned to for `name`, if any.
    pub fn pin(&self, name: &str) -> Result<Option<&str>> {
        self.check(&["pins"])?;
        Ok(self.pins.get(name).map(String::as_str))
    }

    /// How long the runner waits for the server.
    pub fn timeout(&self) -> Result<Duration> {
        self.check(&["timeout"])?;
        Ok(self.timeout)
    }

    /// How long the runner's update check may take in all (`deadline`), and the slowest
    /// average rate of its downloads (`min_rate`).
    pub fn deadlines(&self) -> Result<Deadlines> {
        self.check(&["deadline", "min_rate"])?;
        Ok(self.deadlines)
    }

    /// Where python-build-standalone runtimes are downloaded from, if not GitHub.
    pub fn python_mirror(&self) -> Result<Option<&str>> {
        self.check(&["python_mirror", "ca_bundle"])?;
        Ok(self.python_mirror.as_deref())
    }

    /// This machine's name in server logs.
    pub fn node(&self) -> Result<&str> {
        self.check(&["node"])?;
        Ok(&self.node)
    }

    /// `[store]`: how a bucket is reached (`pyk serve --store s3://…`, serverless clients,
    /// `pyk migrate`).
    pub fn store(&self) -> Result<&store::StoreTable> {
        self.check(&["store", "ca_bundle"])?;
        Ok(&self.store)
    }

    /// Host and port `pyk serve` listens on: HOST/PORT, else the port of `server` (the
    /// same config serves the server and its clients), on loopback only when `server`
    /// names this machine by loopback, else every interface; else 0.0.0.0:7777.
    pub fn listen(&self) -> Result<(String, u16)> {
        self.check(&["host", "port", "server"])?;
        if let Some(listen) = &self.listen {
            return Ok(listen.clone());
        }
        let url = self
            .server
            .as_deref()
            .filter(|s| s.starts_with("http"))
            .and_then(|s| url::Url::parse(s).ok());
        Ok(match url {
            Some(url) => {
                let loopback = match url.host() {
                    Some(url::Host::Domain(d)) => d == "localhost",
                    Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                    Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                    None => false,
                };
                let host = if loopback { "127.0.0.1" } else { "0.0.0.0" };
                let port = url.port_or_known_default().unwrap_or(DEFAULT_PORT);
                (host.to_owned(), port)
            }
            None => default_listen(),
        })
    }

    /// The read key, or an error that says where to put one.
    pub fn read_key(&self) -> Result<&Key> {
        self.check(&["key"])?;
        match &self.key {
            Some((key, _)) => Ok(key),
            None => bail!("no key configured: set `KEY` in ~/.config/pyk/config.toml (or /etc/pyk/config.toml), or PYK_KEY"),
        }
    }

    /// The key for publishing: `write_key` if set, else the read key.
    pub fn write_key(&self) -> Result<&Key> {
        self.check(&["write_key"])?;
        match &self.write_key {
            Some((key, _)) => Ok(key),
            None => self.read_key(),
        }
    }

    pub fn server(&self) -> Result<&str> {
        self.check(&["server", "host", "port", "ca_bundle"])?;
        match &self.server {
            Some(s) => Ok(s),
            None => bail!("no server configured: set `server = \"http://HOST:7777\"` (or HOST/PORT, or `s3://bucket/prefix` to read a bucket directly) in ~/.config/pyk/config.toml, or PYK_SERVER"),
        }
    }
}

/// A list of public keys; `what` names it in errors.
fn public_keys(value: &toml::Value, what: &str) -> Result<Vec<PublicKey>> {
    let toml::Value::Array(items) = value else {
        bail!("{what} must be a list of public keys (\"pyk-ed25519:…\", as `pyk keygen --signing` prints)");
    };
    items
        .iter()
        .map(|item| {
            let text = item
                .as_str()
                .with_context(|| format!("{what}: a public key is a string"))?;
            PublicKey::parse(text).with_context(|| what.to_owned())
        })
        .collect()
}

/// A URL is kept as it is; `host:port` becomes `http://host:port`, a bare host
/// `http://host:7777`.
fn normalize_server(s: &str) -> String {
    let s = s.trim().trim_end_matches('/');
    match (s.contains("://"), s.contains(':')) {
        (true, _) => s.to_owned(),
        (false, true) => format!("http://{s}"),
        (false, false) => format!("http://{s}:{DEFAULT_PORT}"),
    }
}

/// Where `pyk serve` listens when nothing says: every interface, the default port.
fn default_listen() -> (String, u16) {
    ("0.0.0.0".into(), DEFAULT_PORT)
}

/// A listen address of "all interfaces" is reached through loopback on this machine.
fn connect_host(host: &str) -> &str {
    match host {
        "0.0.0.0" | "" => "127.0.0.1",
        "::" => "[::1]",
        h => h,
    }
}

/// The host's name (one `uname`: every command reads the config, a warm `pyk foo` too).
fn node_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes into `buf`.
    let named = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    match std::ffi::CStr::from_bytes_until_nul(&buf) {
        Ok(name) if named && !name.is_empty() => name.to_string_lossy().trim().to_owned(),
        _ => "unknown".into(),
    }
}

/// A path a config value names: `~` or `~/…` under the home directory, an absolute path
/// as it is, anything else relative to `dir` (the config file's directory).
pub fn config_path(dir: &Path, value: &str) -> PathBuf {
    let home = || std::env::var_os(EnvVars::HOME).map(PathBuf::from);
    match value.strip_prefix('~') {
        Some("") => home().unwrap_or_else(|| dir.join(value)),
        Some(rest) if rest.starts_with('/') => match home() {
            Some(home) => home.join(rest.trim_start_matches('/')),
            None => dir.join(value),
        },
        _ => dir.join(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn original_keys_and_errors() {
        let mut c = Config::default();
        let mut env = env::Env::default();
        let text = "KEY = \"secret\"\nHOST = \"repo.lan\"\nPORT = 8000\n[pins]\nfoo = \"1.3.0\"\n";
        c.apply_file(Path::new("/etc/pyk/config.toml"), text, &mut env)
            .unwrap();
        assert_eq!(c.server.as_deref(), Some("http://repo.lan:8000"));
        assert_eq!(
            c.read_key().unwrap().as_str(),
            Key::from_config("secret").as_str()
        );
        assert_eq!(c.listen, Some(("repo.lan".to_string(), 8000)));
        assert_eq!(c.pins["foo"], "1.3.0");
        // A bad key is kept, and reported by what reads that part.
        c.apply_file(Path::new("/x.toml"), "PORT = \"abc\"\n", &mut env)
            .unwrap();
        let e = c.server().unwrap_err().to_string();
        assert!(e.contains("/x.toml") && e.contains("PORT"), "{e}");
        assert!(c.pin("foo").is_ok() && c.python_mirror().is_ok());
        c.problems.clear();
        let e = c
            .apply_file(Path::new("/x.toml"), "KEY = \n", &mut env)
            .unwrap_err()
            .to_string();
        assert!(e.contains("/x.toml:1"), "{e}");
        // A typo names the file, the line and the likely key.
        let e = c
            .apply_file(
                Path::new("/x.toml"),
                "KEY = \"k\"\n\nwrite-key = \"w\"\n",
                &mut env,
            )
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "config /x.toml:3: unknown key `write-key` (did you mean `write_key`?)"
        );
        let key = pyk_crypto::sign::SigningKey::generate().unwrap().public();
        let text = format!("trusted = [\"{key}\"]\n[trusted_for]\nfoo = []\n");
        c.apply_file(Path::new("/x.toml"), &text, &mut env).unwrap();
        assert_eq!(c.trusted, vec![key]);
        assert_eq!(c.trusted_for["foo"], vec![]);
        c.apply_file(Path::new("/x.toml"), "\ntrusted = [\"abc\"]\n", &mut env)
            .unwrap();
        let e = c.trust(Path::new("/nonexistent")).err().unwrap();
        assert!(
            format!("{e:#}").starts_with("config /x.toml:2: `trusted`"),
            "{e:#}"
        );
        assert!(c.server().is_ok());
        c.problems.clear();
        // A malformed pin fails what reads pins, not the rest.
        c.apply_file(Path::new("/x.toml"), "[pins]\nfoo = 3\n", &mut env)
            .unwrap();
        assert!(c.pin("foo").is_err());
        assert!(c.python_mirror().is_ok() && c.read_key().is_ok());
        assert_eq!(normalize_server("repo:9"), "http://repo:9");
        assert_eq!(normalize_server("repo"), "http://repo:7777");
        assert_eq!(normalize_server("https://repo/"), "https://repo");
    }

    #[test]
    fn the_shared_cache_is_a_plain_absolute_path_the_launcher_reads_alike() {
        let load = |text: &str| {
            let mut c = Config::default();
            c.apply_file(
                Path::new("/etc/pyk/config.toml"),
                text,
                &mut env::Env::default(),
            )
            .unwrap();
            c.shared_cache().map(|p| p.map(Path::to_path_buf))
        };
        let ok = load("shared_cache = \"/opt/pyk\"\n").unwrap();
        assert_eq!(ok.as_deref(), Some(Path::new("/opt/pyk")));
        let e = load("shared_cache = \"opt/pyk\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("must be an absolute path"), "{e}");
        // TOML reads `\u0070` as `p`; the launcher would not: refused.
        let e = load("shared_cache = \"/opt/\\u0070yk\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("launchers read it without a TOML parser"), "{e}");
        // A line inside a multi-line string is not a key to TOML, but would be to the
        // launcher: refused too.
        let e = load("node = \"\"\"\nshared_cache = \"/opt/pyk\"\n\"\"\"\n").unwrap_err();
        assert!(e.to_string().contains("without a TOML parser"), "{e}");
    }

    #[test]
    fn paths_expand_the_home_directory() {
        let home = PathBuf::from(std::env::var_os(EnvVars::HOME).unwrap());
        let dir = Path::new("/etc/pyk");
        let key = config_path(dir, "~/.config/pyk/signing.key");
        assert_eq!(key, home.join(".config/pyk/signing.key"));
        assert_eq!(config_path(dir, "~"), home);
        assert_eq!(config_path(dir, "ca.pem"), dir.join("ca.pem"));
        assert_eq!(config_path(dir, "/abs/ca.pem"), Path::new("/abs/ca.pem"));
        assert_eq!(config_path(dir, "~user/x"), dir.join("~user/x"));
    }
}
