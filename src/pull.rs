//! `pyk pull foo [bar …]`: write packages to files, for machines with no pyk at all.

use std::path::{Path, PathBuf};

use crate::output::Progress;
use anyhow::{bail, Result};
use pyk_cache::Cache;
use pyk_client::Packages;
use pyk_protocol::{valid_localname, Kind, PackageRef};

use crate::config::Config;
use crate::output::human_size;
use crate::runner;

pub struct Pull<'a> {
    pub names: &'a [String],
    pub kind: Kind,
    pub version: Option<&'a str>,
    pub output: Option<&'a Path>,
    pub force: bool,
}

pub fn pull(req: &Pull, config: &Config, cache: &Cache, progress: &Progress) -> Result<()> {
    let several = req.names.len() > 1;
    if several {
        if let Some(out) = req.output.filter(|o| !o.is_dir()) {
            bail!(
                "pulling several packages needs -o to name an existing directory, not {}",
                out.display()
            );
        }
    }
    for name in req.names {
        let (manifest, client) = runner::manifest(config, cache, req.kind, name, req.version)?;
        let m = &manifest;
        // The local name is package metadata that may have changed since this version was
        // cached: ask for it, and make do with the cached one when the server is away.
        let package = PackageRef::new(m.kind, &m.name)?;
        let localname = client
            .versions(&package)
            .ok()
            .map_or_else(|| m.localname.clone(), |list| list.localname);
        // A local name from the server becomes a path: only a plain file name will do.
        let default_name = localname
            .filter(|l| valid_localname(l))
            .unwrap_or_else(|| m.name.clone());
        let dest: PathBuf = match req.output {
            Some(out) if out.is_dir() => out.join(&default_name),
            Some(out) => out.to_path_buf(),
            None => PathBuf::from(&default_name),
        };
        if dest.exists() && !req.force {
            bail!("{} exists: pass --force to replace it", dest.display());
        }
        // Whole and byte-identical: the blobs one after the other, checked against the
        // artifact's sha256 (a runner keeps layers unpacked, not whole files).
        Packages::new(cache).pull(&client, m, &dest, progress)?;
        println!(
            "{} {} → {} ({})",
            m.name,
            m.version,
            dest.display(),
            human_size(m.size)
        );
    }
    Ok(())
}
