//! Where a publisher's signing key comes from: `signing_key = "/path/to/file"` (relative
//! to the config file, `~` the home directory) or the key itself (`pyk-ed25519-secret:…`, usually through
//! `{ env = … }` or `PYK_SIGNING_KEY`), or `none` to sign nothing. A key file must be private to its owner, as ssh
//! insists for its keys: a key others can read signs for them too. With none configured,
//! a publisher signs with its own key, in a default file made on first use.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use pyk_crypto::sign::{SigningKey, SECRET_PREFIX};
use pyk_static::EnvVars;

#[derive(Debug)]
pub enum SigningSource {
    /// The key itself; `String` says where it was set, for errors.
    Inline(String, String),
    File(PathBuf, String),
    /// `none`: publish unsigned (what machines that pinned or trust a key refuse).
    Off,
}

impl SigningSource {
    /// `value` from `at` (a config file's `FILE:LINE`, or a variable's name); relative
    /// paths resolve against `dir`.
    pub fn new(value: &str, dir: &Path, at: String) -> SigningSource {
        let value = value.trim();
        if value == "none" {
            SigningSource::Off
        } else if value.starts_with(SECRET_PREFIX) {
            SigningSource::Inline(value.to_owned(), at)
        } else {
            SigningSource::File(super::config_path(dir, value), at)
        }
    }

    /// The key, or `None` for `none`.
    pub fn load(&self) -> Result<Option<SigningKey>> {
        match self {
            SigningSource::Off => Ok(None),
            SigningSource::Inline(text, at) => SigningKey::parse(text)
                .map(Some)
                .with_context(|| format!("{at}: `signing_key`")),
            SigningSource::File(path, at) => load_file(path, at).map(Some),
        }
    }
}

/// The key in the file at `path` (set at `at`), which only its owner may read.
pub fn load_file(path: &Path, at: &str) -> Result<SigningKey> {
    let shown = path.display();
    let mode = fs::metadata(path)
        .with_context(|| format!("{at}: cannot read signing key file {shown}"))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        bail!(
            "signing key file {shown} can be read by others (mode {:o}): `chmod 600 {shown}`",
            mode & 0o777
        );
    }
    let text = fs::read_to_string(path)
        .with_context(|| format!("{at}: cannot read signing key file {shown}"))?;
    SigningKey::parse(&text).with_context(|| format!("signing key file {shown}"))
}

/// This publisher's own key: the default file, made (and its public key printed once, on
/// stderr) when there is none yet.
pub fn own_key() -> Result<SigningKey> {
    let path = default_key_path()?;
    if path.exists() {
        return load_file(&path, "the publisher's own key");
    }
    let key = create_key(&path)?;
    eprintln!(
        "pyk: made this publisher's signing key {} (mode 0600), public key {}: machines pin \
         it on first use; keep the file, since a new key is refused where this one is pinned",
        path.display(),
        key.public()
    );
    Ok(key)
}

/// A new key written to `path` (created, never overwritten, mode 0600).
pub fn create_key(path: &Path) -> Result<SigningKey> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let key = SigningKey::generate()?;
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| {
            format!(
                "cannot create {} (an existing key is never replaced)",
                path.display()
            )
        })?;
    file.write_all(format!("{}\n", key.to_text()).as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(key)
}

/// `$XDG_CONFIG_HOME/pyk/signing.key` (else `~/.config/pyk/signing.key`): `pyk keygen
/// --signing`'s default file, and the key a publisher with no `signing_key` signs with.
pub fn default_key_path() -> Result<PathBuf> {
    let config = std::env::var_os(EnvVars::XDG_CONFIG_HOME)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os(EnvVars::HOME).map(|h| PathBuf::from(h).join(".config")))
        .context("no config directory: set HOME, or pass -o FILE")?;
    Ok(config.join("pyk").join("signing.key"))
}
