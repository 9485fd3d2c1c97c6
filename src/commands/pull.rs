//! `pyk pull foo [bar …]`: write packages to files, for machines with no pyk at all.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use pyk_client::Packages;
use pyk_protocol::{valid_localname, Kind, PackageRef};

use super::Context;
use crate::fetch;
use crate::output::{human_size, status};

pub struct Pull<'a> {
    pub names: &'a [String],
    pub kind: Kind,
    pub version: Option<&'a str>,
    pub output: Option<&'a Path>,
    pub force: bool,
    /// `--platform`: whose artifact to write (default: this machine's).
    pub platform: Option<&'a str>,
}

pub fn run(ctx: &Context, req: &Pull) -> Result<()> {
    let cache = ctx.cache()?;
    // A directory is meant when several packages are pulled or PATH ends in `/`: made if
    // missing. A file's missing parent directories are made too.
    let into_dir = req.output.filter(|out| {
        req.names.len() > 1 || out.is_dir() || out.as_os_str().as_bytes().ends_with(b"/")
    });
    if let Some(dir) = into_dir.filter(|d| d.exists() && !d.is_dir()) {
        bail!(
            "-o {}: pulling several packages needs a directory, and this is a file",
            dir.display()
        );
    }
    // Every name is resolved before anything is written: a name that fails leaves no
    // half-done pull behind.
    let resolved = req
        .names
        .iter()
        .map(|name| {
            fetch::manifest(ctx, req.kind, name, req.version)
                .map_err(|e| crate::hints::wrong_kind(ctx.config, req.kind, name, true, e))
        })
        .collect::<Result<Vec<_>>>()?;
    if let Some(dir) = into_dir {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let platform = req
        .platform
        .map_or_else(pyk_protocol::dist::platform, str::to_owned);
    let resolved = resolved
        .into_iter()
        .map(|(m, client)| {
            let what = format!("{} {} version {}", m.kind, m.name, m.version);
            let artifact = m
                .for_platform(&platform)
                .map_err(|why| match req.platform {
                    Some(_) => anyhow::anyhow!("{what} {why}"),
                    None => pyk_client::Error::Platform { what, why }.into(),
                })?;
            Ok((m, artifact, client))
        })
        .collect::<Result<Vec<_>>>()?;
    for (manifest, artifact, client) in resolved {
        let m = &manifest;
        // Where the version is signed (and so checked), only the local name the publisher
        // signed with it counts: the package's own is anyone's with the write key, or a
        // man in the middle's. Elsewhere it is package metadata that may have changed
        // since this version was cached: ask for it, and make do with the cached one when
        // the server is away.
        let localname = if m.signature.is_some() {
            m.signed_localname.clone()
        } else {
            let package = PackageRef::new(m.kind, &m.name)?;
            client
                .versions(&package)
                .ok()
                .map_or_else(|| m.localname.clone(), |list| list.localname)
        };
        // A local name from the server becomes a path: only a plain file name will do.
        let default_name = localname
            .filter(|l| valid_localname(l))
            .unwrap_or_else(|| m.name.clone());
        let dest: PathBuf = match (into_dir, req.output) {
            (Some(dir), _) => dir.join(&default_name),
            (None, Some(out)) => out.to_path_buf(),
            (None, None) => PathBuf::from(&default_name),
        };
        if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        if dest.exists() && !req.force {
            bail!("{} exists: pass --force to replace it", dest.display());
        }
        // Whole and byte-identical: the blobs one after the other, checked against the
        // artifact's sha256 (a runner keeps layers unpacked, not whole files).
        Packages::new(cache).pull(&client, &artifact, &dest, &ctx.progress)?;
        let of = match m.platform_names().len() {
            0 | 1 => String::new(),
            _ => format!(" for {}", artifact.platform_names().join("")),
        };
        status!(
            "{} {}{of} → {} ({})",
            m.name,
            m.version,
            dest.display(),
            human_size(artifact.size)
        );
    }
    Ok(())
}
