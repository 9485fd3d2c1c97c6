//! Bringing a package's version here, for the commands that run or write it. For
//! `pyk foo args…`: one request for foo's current version, a fetch only of the layers that
//! changed, unpacked in the cache (`commands/run.rs` execs them): no whole artifact is
//! assembled. Whenever the answer cannot be
//! trusted (unreachable, past its deadline, a server error, damaged, or not vouched for),
//! the cached version runs with a one-line warning naming why. `pyk foo@1.3.0` (or a
//! `[pins]` entry) runs a fixed version: versions never change, so a cached one runs
//! without asking the server at all. Resolution itself is `pyk_client::Resolver`'s; this
//! is the CLI's side: the config's pins and trust, the warnings. `pyk shell`, `pyk exec`,
//! `pyk pull` and `pyk inspect NAME` start from the manifest or the whole artifact instead.

use anyhow::Result;
use pyk_cache::Cache;
use pyk_client::{Packages, Request, Resolved, Resolver};
use pyk_protocol::api::Manifest;
use pyk_protocol::names::check_version;
use pyk_protocol::Kind;

use crate::commands::Context;
use crate::config::Config;
use crate::repo;

/// What to resolve, with the machine's pin applied: `version`, else the one in `spec`
/// (`foo@1.3.0`), else the config's `[pins]` entry, else latest.
fn request<'a>(
    config: &'a Config,
    kind: Kind,
    spec: &'a str,
    version: Option<&'a str>,
) -> Result<Request<'a>> {
    let mut request = Request::parse(kind, spec, version)?;
    if request.version.is_none() {
        request.version = config.pin(request.package.name())?;
        if let Some(v) = request.version {
            check_version(v)?;
        }
    }
    Ok(request)
}

fn resolver<'t>(cache: &Cache, trust: &'t pyk_client::Trust) -> Resolver<'t> {
    Resolver::new(Packages::new(cache), trust)
}

/// Warns, once per package on this machine, that `manifest` is unsigned: nothing vouches
/// for who published it. Called only once the package resolved, so that no warning
/// precedes an error about something else.
fn warn_unsigned(trust: &pyk_client::Trust, manifest: &Manifest) {
    if trust.first_unsigned(manifest) {
        crate::output::warning!(
            "{} {} is not signed, so nothing checks who published it (said once \
             per package; a publisher signs with `pyk publish`'s default key)",
            manifest.kind,
            manifest.name
        );
    }
}

/// Brings `kind`/`name` (at `version`, else at the machine's pin, else at latest) up to
/// date with the server and makes it ready here, or falls back to the cached version
/// (with a one-line warning) when the answer cannot be trusted.
pub fn resolve(ctx: &Context, kind: Kind, name: &str, version: Option<&str>) -> Result<Resolved> {
    let (config, cache) = (ctx.config, ctx.cache()?);
    let request = request(config, kind, name, version)?;
    let trust = config.trust(cache.root())?;
    let resolver = resolver(cache, &trust);
    if let Some(resolved) = resolver.cached(&request) {
        warn_unsigned(&trust, &resolved.manifest);
        return Ok(resolved);
    }
    let client = repo::runner(config)?;
    let mut resolved = resolver.resolve(&client, &request, &ctx.progress)?;
    warn_unsigned(&trust, &resolved.manifest);
    if let Some(e) = resolved.offline.take() {
        crate::output::warning!(
            "{:#}; running the cached {} version {}",
            anyhow::Error::from(e),
            resolved.manifest.name,
            resolved.manifest.version
        );
    }
    Ok(resolved)
}

/// The manifest of the version `name` resolves to, asked of the server (a fixed version
/// already here is not asked for), for commands that write whole files.
pub fn manifest(
    ctx: &Context,
    kind: Kind,
    name: &str,
    version: Option<&str>,
) -> Result<(Manifest, pyk_client::Client)> {
    let (config, cache) = (ctx.config, ctx.cache()?);
    let request = request(config, kind, name, version)?;
    let trust = config.trust(cache.root())?;
    let client = repo::client(config)?;
    let manifest = resolver(cache, &trust).manifest(&client, &request)?;
    warn_unsigned(&trust, &manifest);
    Ok((manifest, client))
}

/// A version's whole artifact, kept in the cache (content-named): what `pyk shell`,
/// `pyk exec` and `pyk pull --unpack` start from, since they need the launcher and every
/// layer, a library's runtime included.
pub struct WholeFile {
    pub manifest: Manifest,
    pub path: std::path::PathBuf,
}

/// The whole artifact of the version `name` resolves to, written into the cache's blobs
/// from the blobs it lacks (checked against the artifact's sha256) unless it is there.
pub fn whole(ctx: &Context, kind: Kind, name: &str, version: Option<&str>) -> Result<WholeFile> {
    let (manifest, client) = self::manifest(ctx, kind, name, version)?;
    let packages = Packages::new(ctx.cache()?);
    let here = pyk_client::here(&manifest)?;
    let path = packages.blobs_dir().join(&here.artifact_sha256);
    if !path.is_file() {
        packages.pull(&client, &here, &path, &ctx.progress)?;
    }
    packages.remember(&manifest, version.is_some())?;
    Ok(WholeFile {
        manifest: here,
        path,
    })
}
