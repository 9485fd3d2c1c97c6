//! `pyk foo args…`: one request for foo's current version, a fetch only when it changed,
//! then exec. When the server can't be reached in time, the cached copy runs with a
//! one-line warning. `pyk foo@1.3.0` (or a `[pins]` entry) runs a fixed version: versions
//! never change, so a cached one runs without asking the server at all.

use std::convert::Infallible;
use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{anyhow, bail, Context, Result};
use pyk_protocol::api::Manifest;
use pyk_protocol::valid_version;
use pyk_runtime_fetch::Progress;

use crate::client::{Client, ClientError};
use crate::config::Config;
use crate::packages::Packages;

/// A package version ready to run, import or pull.
pub struct Resolved {
    pub path: PathBuf,
    pub manifest: Manifest,
}

/// Splits `foo@1.3.0` into the name and the version.
pub fn parse_spec(spec: &str) -> Result<(&str, Option<&str>)> {
    let (name, version) = match spec.split_once('@') {
        Some((name, version)) => (name, Some(version)),
        None => (spec, None),
    };
    if !pyk_artifact::trailer::valid_name(name) {
        bail!("invalid package name {name:?}");
    }
    if let Some(v) = version {
        if !valid_version(v) {
            bail!("invalid version {v:?}: use 1-64 letters, digits, '.', '_', '+' or '-', starting with a letter or digit");
        }
    }
    Ok((name, version))
}

/// Brings the cached copy of `kind`/`name` (at `version`, else at the machine's pin, else
/// at latest) up to date with the server, or falls back to it when the server is silent.
pub fn resolve(
    config: &Config,
    cache_root: &Path,
    kind: &str,
    name: &str,
    version: Option<&str>,
    progress: &Progress,
) -> Result<Resolved> {
    let (name, at) = parse_spec(name)?;
    let version = version
        .or(at)
        .or_else(|| config.pins.get(name).map(String::as_str));
    if let Some(v) = version {
        if !valid_version(v) {
            bail!("invalid version {v:?} for {name}");
        }
    }
    let packages = Packages::open(cache_root);
    let cached = packages.cached(kind, name, version);
    if let (Some(manifest), Some(_)) = (&cached, version) {
        // An immutable version already here: nothing to ask.
        let path = packages.artifact_path(&manifest.artifact_sha256);
        return Ok(Resolved {
            path,
            manifest: manifest.clone(),
        });
    }
    let key = config.read_key()?;
    let client = Client::new(config.server()?, key, key, &config.node, config.timeout);
    let etag = cached
        .as_ref()
        .map(|m| format!("\"{}.{}\"", m.artifact_sha256, m.version));
    let answer = match version {
        Some(v) => client.version(kind, name, v, None),
        None => client.current(kind, name, etag.as_deref()),
    };
    match answer {
        Ok(None) => {
            let manifest =
                cached.context("the server answered 304 to a question pyk did not ask")?;
            Ok(Resolved {
                path: packages.artifact_path(&manifest.artifact_sha256),
                manifest,
            })
        }
        Ok(Some(manifest)) => {
            // Names from the network become file names here: check them.
            if manifest.kind.as_str() != kind
                || manifest.name != name
                || !valid_version(&manifest.version)
                || version.is_some_and(|v| v != manifest.version)
            {
                bail!(
                    "{} answered with {} {} {} when asked for {kind} {name}",
                    client.server(),
                    manifest.kind,
                    manifest.name,
                    manifest.version
                );
            }
            let path = packages.fetch(&client, &manifest, progress)?;
            packages.remember(&manifest, version.is_some())?;
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
        Err(e) => Err(e.into()),
    }
}

/// Replaces this process with the package's program.
pub fn exec(resolved: &Resolved, args: &[OsString]) -> Result<Infallible> {
    let m = &resolved.manifest;
    if !m.executable {
        bail!(
            "{} {} is a file, not a program: `pyk pull {}` writes it out",
            m.name,
            m.version,
            m.name
        );
    }
    let err = Command::new(&resolved.path)
        .arg0(&m.name)
        .args(args)
        .env("PYK_PACKAGE", &m.name)
        .env("PYK_VERSION", &m.version)
        .exec();
    Err(err).with_context(|| format!("cannot run {}", resolved.path.display()))
}
