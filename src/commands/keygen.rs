//! `pyk keygen --signing [-o FILE]`: a publisher's ed25519 key pair. The private key goes
//! to a file only its owner can read (created, never overwritten); the public key is
//! printed as one string, which machines pin on first use or list as `trusted`. The default
//! file is also the key `pyk publish` signs with when no `signing_key` is configured, made
//! on the first publish when there is none.

use std::path::Path;

use anyhow::Result;
use pyk_protocol::progress::Progress as _;

use super::Context;
use crate::config::{create_key, default_key_path};

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
        None => default_key_path()?,
    };
    let key = create_key(&path)?;
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
