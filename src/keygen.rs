//! `pyk keygen --signing [-o FILE]`: a publisher's ed25519 key pair. The private key goes
//! to a file only its owner can read (created, never overwritten); the public key is
//! printed as one string to paste into the `trusted` list of the machines that run what
//! this publisher signs.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::output::Progress;
use anyhow::{Context, Result};
use pyk_crypto::sign::SigningKey;
use pyk_protocol::progress::Progress as _;
use pyk_static::EnvVars;

pub fn signing(output: Option<&Path>, progress: &Progress) -> Result<()> {
    let path = match output {
        Some(p) => p.to_path_buf(),
        None => default_path()?,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let key = SigningKey::generate()?;
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| {
            format!(
                "cannot create {} (an existing key is never replaced)",
                path.display()
            )
        })?;
    file.write_all(format!("{}\n", key.to_text()).as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!("{}", key.public());
    progress.step(&format!(
        "Wrote the private key to {} (mode 0600): set `signing_key = \"{}\"` in the publisher's \
         config, and put the public key above in `trusted = [...]` on the machines that run \
         what it publishes",
        path.display(),
        path.display()
    ));
    Ok(())
}

fn default_path() -> Result<PathBuf> {
    let config = std::env::var_os(EnvVars::XDG_CONFIG_HOME)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os(EnvVars::HOME).map(|h| PathBuf::from(h).join(".config")))
        .context("no config directory: set HOME, or pass -o FILE")?;
    Ok(config.join("pyk").join("signing.key"))
}
