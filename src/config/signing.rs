//! Where a publisher's signing key comes from: `signing_key = "/path/to/file"` (relative
//! to the config file, `~` the home directory) or the key itself (`pyk-ed25519-secret:…`, usually through
//! `{ env = … }` or `PYK_SIGNING_KEY`), or `none` to sign nothing. A key file must be private to its owner, as ssh
//! insists for its keys: a key others can read signs for them too.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use pyk_crypto::sign::{SigningKey, SECRET_PREFIX};

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
