//! Client and server configuration: `/etc/pyk/config.toml`, then
//! `~/.config/pyk/config.toml`, then environment variables, then flags; later sources
//! override earlier ones.
//!
//! Keys (the original pyk's upper-case spellings are accepted too):
//! `key`/`KEY` (passphrase or Fernet key), `write_key` (publishing, if kept apart),
//! `server` (URL) or `host`/`HOST` + `port`/`PORT`, `timeout` (seconds the runner waits
//! for the server before running its cached copy), `python_mirror`, `node` (this
//! machine's name in server logs). Environment: `PYK_KEY`, `PYK_WRITE_KEY`, `PYK_SERVER`,
//! `PYK_TIMEOUT`, `PYK_PYTHON_MIRROR`, `PYK_NODE`, `PYK_CONFIG` (one more file, read last).
//! `[pins]` maps package names to the version this machine runs (`foo = "1.3.0"`).
//! Values may come from the environment (see [`env`]), and `dotenv` names a file of
//! `NAME=value` lines that count as environment. `[store]` says how to reach a bucket
//! (see [`store`]); a `server` of `s3://bucket/prefix` makes this machine read (and,
//! with write credentials, publish to) that bucket directly.

mod env;
pub mod store;

use std::collections::BTreeMap;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use pyk_crypto::Key;

/// The default repository port, as in the original pyk.
pub const DEFAULT_PORT: u16 = 7777;

#[derive(Debug)]
pub struct Config {
    /// The read key, and where it came from (for error messages).
    pub key: Option<(Key, String)>,
    /// The publishing key; the read key when not set apart.
    pub write_key: Option<(Key, String)>,
    /// Base URL of the repository, e.g. `http://host:7777`.
    pub server: Option<String>,
    /// How long the runner waits for the server before falling back to its cache.
    pub timeout: Duration,
    pub python_mirror: Option<String>,
    pub node: String,
    /// Host and port `pyk serve` listens on.
    pub listen: (String, u16),
    /// Package name → the version this machine is pinned to.
    pub pins: BTreeMap<String, String>,
    /// `[store]`: reaching a bucket.
    pub store: store::StoreTable,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            key: None,
            write_key: None,
            server: None,
            timeout: Duration::from_secs(2),
            python_mirror: None,
            node: node_name(),
            listen: ("0.0.0.0".into(), DEFAULT_PORT),
            pins: BTreeMap::new(),
            store: store::StoreTable::default(),
        }
    }
}

impl Config {
    pub fn load() -> Result<Config> {
        let mut config = Config::default();
        let mut env = env::Env::default();
        for path in Self::files() {
            let text = match std::fs::read_to_string(&path) {
                Ok(text) => text,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot read config {}", path.display()))
                }
            };
            config.apply_file(&path, &text, &mut env)?;
        }
        config.apply_env(&env)?;
        Ok(config)
    }

    fn files() -> Vec<PathBuf> {
        let mut files = vec![PathBuf::from("/etc/pyk/config.toml")];
        let user = env("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".config")));
        files.extend(user.map(|d| d.join("pyk/config.toml")));
        files.extend(env("PYK_CONFIG").map(PathBuf::from));
        files
    }

    fn apply_file(&mut self, path: &Path, text: &str, env: &mut env::Env) -> Result<()> {
        let shown = path.display();
        let mut table: toml::Table = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| format!(":{}", text[..s.start].matches('\n').count() + 1));
            anyhow::anyhow!(
                "config {shown}{}: {}",
                line.unwrap_or_default(),
                e.message().trim()
            )
        })?;
        if let Some(toml::Value::String(dotenv)) = table.get("dotenv") {
            let dir = path.parent().unwrap_or(Path::new("."));
            env.load_dotenv(&dir.join(dotenv))?;
        }
        env.resolve(&mut table, &shown.to_string())?;
        let mut host = None;
        let mut port = None;
        for (k, value) in &table {
            let text = || -> Result<String> {
                match value {
                    toml::Value::String(s) => Ok(s.clone()),
                    _ => bail!("config {shown}: `{k}` must be a string"),
                }
            };
            match k.to_ascii_lowercase().as_str() {
                "key" => self.key = Some((Key::from_config(&text()?), format!("`{k}` in {shown}"))),
                "write_key" => {
                    self.write_key = Some((Key::from_config(&text()?), format!("`{k}` in {shown}")))
                }
                "server" => self.server = Some(normalize_server(&text()?)),
                "host" => host = Some(text()?),
                "port" => {
                    let n = match value {
                        toml::Value::Integer(n) => u16::try_from(*n).ok(),
                        toml::Value::String(s) => s.parse().ok(),
                        _ => None,
                    };
                    port =
                        Some(n.with_context(|| {
                            format!("config {shown}: `{k}` must be a port number")
                        })?);
                }
                "timeout" => {
                    let secs = match value {
                        toml::Value::Integer(n) if *n > 0 => *n as f64,
                        toml::Value::Float(f) if *f > 0.0 => *f,
                        _ => bail!("config {shown}: `{k}` must be a positive number of seconds"),
                    };
                    self.timeout = Duration::from_secs_f64(secs);
                }
                "python_mirror" => self.python_mirror = Some(text()?),
                "pins" => {
                    let toml::Value::Table(pins) = value else {
                        bail!("config {shown}: `pins` must be a table of NAME = \"VERSION\"");
                    };
                    for (name, version) in pins {
                        let version = version.as_str().with_context(|| {
                            format!("config {shown}: pins.{name} must be a version string")
                        })?;
                        self.pins.insert(name.clone(), version.to_owned());
                    }
                }
                "node" => self.node = text()?,
                "store" => self.store.apply(value, &shown.to_string())?,
                // Kept for other tools and later versions; a typo here is harmless.
                _ => {}
            }
        }
        if host.is_some() || port.is_some() {
            let host = host.unwrap_or_else(|| self.listen.0.clone());
            let port = port.unwrap_or(self.listen.1);
            // An explicit `server` in the same file wins over HOST/PORT.
            if !table.keys().any(|k| k.eq_ignore_ascii_case("server")) {
                self.server = Some(format!("http://{}:{port}", connect_host(&host)));
            }
            self.listen = (host, port);
        }
        Ok(())
    }

    fn apply_env(&mut self, env: &env::Env) -> Result<()> {
        let env = |name: &str| env.get(name);
        if let Some(v) = env("PYK_KEY") {
            self.key = Some((Key::from_config(&v), "PYK_KEY".into()));
        }
        if let Some(v) = env("PYK_WRITE_KEY") {
            self.write_key = Some((Key::from_config(&v), "PYK_WRITE_KEY".into()));
        }
        if let Some(v) = env("PYK_SERVER") {
            self.server = Some(normalize_server(&v));
        }
        if let Some(v) = env("PYK_TIMEOUT") {
            let secs: f64 = v
                .parse()
                .ok()
                .filter(|s| *s > 0.0)
                .with_context(|| format!("PYK_TIMEOUT={v:?} is not a number of seconds"))?;
            self.timeout = Duration::from_secs_f64(secs);
        }
        if let Some(v) = env("PYK_PYTHON_MIRROR") {
            self.python_mirror = Some(v);
        }
        if let Some(v) = env("PYK_NODE") {
            self.node = v;
        }
        Ok(())
    }

    /// The read key, or an error that says where to put one.
    pub fn read_key(&self) -> Result<&Key> {
        match &self.key {
            Some((key, _)) => Ok(key),
            None => bail!("no key configured: set `KEY` in ~/.config/pyk/config.toml (or /etc/pyk/config.toml), or PYK_KEY"),
        }
    }

    /// The key for publishing: `write_key` if set, else the read key.
    pub fn write_key(&self) -> Result<&Key> {
        match &self.write_key {
            Some((key, _)) => Ok(key),
            None => self.read_key(),
        }
    }

    pub fn server(&self) -> Result<&str> {
        match &self.server {
            Some(s) => Ok(s),
            None => bail!("no server configured: set `server = \"http://HOST:7777\"` (or HOST/PORT, or `s3://bucket/prefix` to read a bucket directly) in ~/.config/pyk/config.toml, or PYK_SERVER"),
        }
    }
}

/// A variable of the process environment (for locating config files).
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
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

/// A listen address of "all interfaces" is reached through loopback on this machine.
fn connect_host(host: &str) -> &str {
    match host {
        "0.0.0.0" | "" => "127.0.0.1",
        "::" => "[::1]",
        h => h,
    }
}

fn node_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
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
        assert_eq!(c.listen, ("repo.lan".to_string(), 8000));
        assert_eq!(c.pins["foo"], "1.3.0");
        let e = c
            .apply_file(Path::new("/x.toml"), "PORT = \"abc\"\n", &mut env)
            .unwrap_err()
            .to_string();
        assert!(e.contains("/x.toml") && e.contains("PORT"), "{e}");
        let e = c
            .apply_file(Path::new("/x.toml"), "KEY = \n", &mut env)
            .unwrap_err()
            .to_string();
        assert!(e.contains("/x.toml:1"), "{e}");
        assert_eq!(normalize_server("repo:9"), "http://repo:9");
        assert_eq!(normalize_server("repo"), "http://repo:7777");
        assert_eq!(normalize_server("https://repo/"), "https://repo");
    }
}
