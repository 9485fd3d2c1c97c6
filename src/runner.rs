//! `pyk foo args…`: one request for foo's current version, a fetch only when it changed,
//! then exec. When the server can't be reached in time, the cached copy runs with a
//! one-line warning. `pyk foo@1.3.0` (or a `[pins]` entry) runs a fixed version: versions
//! never change, so a cached one runs without asking the server at all.

use std::convert::Infallible;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use memmap2::Mmap;
use pyk_artifact::install;
use pyk_artifact::trailer::{Role, Trailer};
use pyk_cache::Cache;
use pyk_client::Answer;
use pyk_protocol::api::Manifest;
use pyk_protocol::names::check_version;
use pyk_protocol::{Kind, PackageRef};
use pyk_runtime_fetch::Progress;

use crate::config::Config;
use crate::output::Bars;
use crate::packages::Packages;
use crate::repo;

/// A package version ready to run, import or pull.
pub struct Resolved {
    pub path: PathBuf,
    pub manifest: Manifest,
}

/// Splits `foo@1.3.0` into the package and the version.
fn parse_spec(kind: Kind, spec: &str) -> Result<(PackageRef, Option<&str>)> {
    let (name, version) = match spec.split_once('@') {
        Some((name, version)) => (name, Some(version)),
        None => (spec, None),
    };
    Ok((PackageRef::new(kind, name)?, version))
}

/// Brings the cached copy of `kind`/`name` (at `version`, else at the machine's pin, else
/// at latest) up to date with the server, or falls back to it when the server is silent
/// or a download breaks off.
pub fn resolve(
    config: &Config,
    cache_root: &Path,
    kind: Kind,
    name: &str,
    version: Option<&str>,
    progress: &Progress,
) -> Result<Resolved> {
    let (package, at) = parse_spec(kind, name)?;
    let name = package.name();
    let version = match version.or(at) {
        Some(v) => Some(v),
        None => config.pin(name)?,
    };
    if let Some(v) = version {
        check_version(v)?;
    }
    let trust = config.trust(cache_root)?;
    if trust.is_empty() {
        eprintln!("pyk: warning: no trusted keys configured (`trusted` in the config): {name} runs without a check of who published it");
    }
    let packages = Packages::open(cache_root);
    let cached = packages.cached(kind.as_str(), name, version, &trust);
    if let (Some(manifest), Some(_)) = (&cached, version) {
        // An immutable version already here: nothing to ask.
        let path = packages.artifact_path(&manifest.artifact_sha256);
        return Ok(Resolved {
            path,
            manifest: manifest.clone(),
        });
    }
    let client = repo::runner(config)?;
    let etag = cached.as_ref().map(Manifest::etag);
    let answer = match version {
        Some(v) => client.version(&package, v, None),
        None => client.current(&package, etag.as_deref()),
    };
    let manifest = match answer {
        Ok(Some(manifest)) => manifest,
        Ok(None) => {
            let manifest =
                cached.context("the server answered 304 to a question pyk did not ask")?;
            return Ok(Resolved {
                path: packages.artifact_path(&manifest.artifact_sha256),
                manifest,
            });
        }
        Err(e) if e.is_network() => return offline(&packages, name, cached, e.into()),
        Err(e) => return Err(e.into()),
    };
    // Before anything of it is fetched, kept or run.
    trust.verify(
        &manifest,
        if version.is_some() {
            Answer::Version
        } else {
            Answer::Latest
        },
    )?;
    let path = match packages.fetch(&client, &manifest, &Bars(progress)) {
        Ok(path) => path,
        Err(e) if is_network(&e) => return offline(&packages, name, cached, e),
        Err(e) => return Err(e),
    };
    packages.remember(&manifest, version.is_some())?;
    Ok(Resolved { path, manifest })
}

/// The server could not be asked, or a download broke off: the cached copy runs, with a
/// one-line warning.
fn offline(
    packages: &Packages,
    name: &str,
    cached: Option<Manifest>,
    e: anyhow::Error,
) -> Result<Resolved> {
    let Some(manifest) = cached else {
        return Err(e.context(format!("{name} has never been fetched on this machine")));
    };
    eprintln!(
        "pyk: warning: {e:#}; running the cached {name} version {}",
        manifest.version
    );
    Ok(Resolved {
        path: packages.artifact_path(&manifest.artifact_sha256),
        manifest,
    })
}

fn is_network(e: &anyhow::Error) -> bool {
    e.downcast_ref::<pyk_client::Error>()
        .is_some_and(pyk_client::Error::is_network)
}

/// Replaces this process with the package's program, whose `sys.argv[0]` is `argv0`
/// (default: the package's name).
pub fn exec(resolved: &Resolved, argv0: Option<&OsStr>, args: &[OsString]) -> Result<Infallible> {
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
        .arg0(argv0.unwrap_or(m.name.as_ref()))
        .args(args)
        .env("PYK_PACKAGE", &m.name)
        .env("PYK_VERSION", &m.version)
        .exec();
    Err(err).with_context(|| format!("cannot run {}", resolved.path.display()))
}

/// The unpacked app and dependency directories of an artifact (app first), unpacked into
/// the cache first if needed: what the Python hook puts on `sys.path`.
pub fn unpack_for_import(cache: &Cache, artifact: &Path) -> Result<Vec<PathBuf>> {
    let shown = artifact.display();
    let file = File::open(artifact).with_context(|| format!("cannot read {shown}"))?;
    let trailer = Trailer::read(&file).with_context(|| format!("{shown}"))?;
    // SAFETY: cached artifacts are content-named and never modified once in place.
    let map = unsafe { Mmap::map(&file) }.with_context(|| format!("cannot map {shown}"))?;
    let mut dirs = Vec::new();
    for role in [Role::App, Role::Deps] {
        let Some(layer) = trailer.layer(role) else {
            continue;
        };
        let bytes = usize::try_from(layer.span.offset)
            .ok()
            .zip(usize::try_from(layer.span.end()).ok())
            .and_then(|(start, end)| map.get(start..end))
            .with_context(|| format!("{shown}: truncated {} layer", role.as_str()))?;
        drop(install::install(cache, layer, bytes).with_context(|| format!("{shown}"))?);
        dirs.push(cache.entry(install::bucket(role), &layer.key()));
    }
    Ok(dirs)
}
