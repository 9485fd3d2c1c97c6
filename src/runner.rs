//! `pyk foo args…`: one request for foo's current version, a fetch only when it changed,
//! then exec. When the server can't be reached in time, the cached copy runs with a
//! one-line warning.

use std::convert::Infallible;
use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{anyhow, bail, Context, Result};
use pyk_runtime_fetch::Progress;
use pyk_server::api::Manifest;

use crate::client::{Client, ClientError};
use crate::config::Config;
use crate::packages::Packages;

/// A package version ready to run or import.
pub struct Resolved {
    pub path: PathBuf,
    pub manifest: Manifest,
}

/// Brings the cached copy of `kind`/`name` up to date with the server, or falls back to
/// it (with a warning) when the server does not answer.
pub fn resolve(
    config: &Config,
    cache_root: &Path,
    kind: &str,
    name: &str,
    progress: &Progress,
) -> Result<Resolved> {
    if !pyk_artifact::trailer::valid_name(name) {
        bail!("invalid package name {name:?}");
    }
    let packages = Packages::open(cache_root);
    let cached = packages.cached(kind, name);
    let key = config.read_key()?;
    let client = Client::new(config.server()?, key, key, &config.node, config.timeout);
    let etag = cached
        .as_ref()
        .map(|m| format!("\"{}.{}\"", m.artifact_sha256, m.version));
    match client.current(kind, name, etag.as_deref()) {
        Ok(None) => {
            let manifest =
                cached.context("the server answered 304 to a question pyk did not ask")?;
            Ok(Resolved {
                path: packages.artifact_path(&manifest.artifact_sha256),
                manifest,
            })
        }
        Ok(Some(manifest)) => {
            if manifest.kind != kind || manifest.name != name {
                bail!(
                    "{} answered for {} {} when asked for {kind} {name}",
                    client.server(),
                    manifest.kind,
                    manifest.name
                );
            }
            let path = packages.fetch(&client, &manifest, progress)?;
            packages.remember(&manifest)?;
            Ok(Resolved { path, manifest })
        }
        Err(ClientError::Unreachable { server, why }) => match cached {
            Some(manifest) => {
                eprintln!(
                    "pyk: warning: {server} is unreachable ({why}); running the cached {name} version {}",
                    manifest.version
                );
                Ok(Resolved {
                    path: packages.artifact_path(&manifest.artifact_sha256),
                    manifest,
                })
            }
            None => Err(anyhow!(
                "{server} is unreachable ({why}) and {name} has never been fetched on this machine"
            )),
        },
        Err(ClientError::NotFound(_)) => Err(anyhow!(
            "no {kind} package named {name} on {}",
            client.server()
        )),
        Err(e) => Err(e.into()),
    }
}

/// Replaces this process with the package's program.
pub fn exec(resolved: &Resolved, args: &[OsString]) -> Result<Infallible> {
    let m = &resolved.manifest;
    let err = Command::new(&resolved.path)
        .arg0(&m.name)
        .args(args)
        .env("PYK_PACKAGE", &m.name)
        .env("PYK_VERSION", &m.version)
        .exec();
    Err(err).with_context(|| format!("cannot run {}", resolved.path.display()))
}
