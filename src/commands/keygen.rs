//! `pyk keygen --signing [-o FILE]`: a publisher's ed25519 key pair. The private key goes
//! to a file only its owner can read (created, never overwritten); the public key is
//! printed as one string, which machines pin on first use or list as `trusted`. The default
//! file is also the key `pyk publish` signs with when no `signing_key` is configured, made
//! on the first publish when there is none.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use pyk_crypto::sign::SigningKey;
use pyk_protocol::progress::Progress as _;
use pyk_static::EnvVars;

use super::Context;
use crate::config::load_file;

/// `pyk keygen`: a read/write key printed; with `--signing`, a publisher's key pair.
pub fn run(ctx: &Context, signing: bool, output: Option<&Path>) -> Result<()> {
    if signing {
        signing_pair(ctx, output)
    } else {
        println!("{}", pyk_crypto::Key::generate().as_str());
        Ok(())
    }
}

fn signing_pair(ctx: &Context, output: Option<&Path>) -> Result<()> {
    let path = match output {
        Some(p) => p.to_path_buf(),
        None => default_path()?,
    };
    let key = create(&path)?;
    println!("{}", key.public());
    let set = match output {
        Some(_) => format!(
            "set `signing_key = \"{}\"` in the publisher's config",
            path.display()
        ),
        None => "`pyk publish` signs with it (no `signing_key` needed)".to_owned(),
    };
    ctx.progress.step(&format!(
        "Wrote the private key to {} (mode 0600): {set}; machines that run what it publishes \
         pin the public key above on first use, or list it in `trusted = [...]`",
        path.display(),
    ));
    Ok(())
}

/// This publisher's own key: the default file, made (and its public key printed once, on
/// stderr) when there is none yet.
pub fn own_key() -> Result<SigningKey> {
    let path = default_path()?;
    if path.exists() {
        return load_file(&path, "the publisher's own key");
    }
    let key = create(&path)?;
    eprintln!(
        "pyk: made this publisher's signing key {} (mode 0600), public key {}: machines pin \
         it on first use; keep the file, since a new key is refused where this one is pinned",
        path.display(),
        key.public()
    );
    Ok(key)
}

/// A new key written to `path` (created, never overwritten, mode 0600).
fn create(path: &Path) -> Result<SigningKey> {
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

fn default_path() -> Result<PathBuf> {
    let config = std::env::var_os(EnvVars::XDG_CONFIG_HOME)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os(EnvVars::HOME).map(|h| PathBuf::from(h).join(".config")))
        .context("no config directory: set HOME, or pass -o FILE")?;
    Ok(config.join("pyk").join("signing.key"))
}
