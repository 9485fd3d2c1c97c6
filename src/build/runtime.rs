//! Choosing the runtime layer for a build, and unpacking it so its interpreter can
//! install dependencies and compile the payload.
//!
//! Order: `--runtime ARCHIVE`; else a cached layer satisfying `--python` / `python =` /
//! `$PYK_PYTHON`, downloading from python-build-standalone only when none is cached; with
//! no version asked for, the newest cached layer, else a download of the default.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use memmap2::Mmap;
use pyk_artifact::extract::{self, Unpacked};
use pyk_artifact::install;
use pyk_artifact::trailer::{self, Role, Span};
use pyk_cache::{Cache, EntryLock};
use pyk_runtime_fetch::{fetch_pbs, import_archive, Layer, LayerStore, Progress, PythonRequest};

/// The Python release downloaded when nothing is asked for and nothing is cached.
pub const DEFAULT_PYTHON: &str = "3.12";

/// A runtime layer and the directory it is unpacked in (held while the build uses it).
pub struct Runtime {
    pub layer: Layer,
    /// What the layer unpacks to: the caps its trailer line declares.
    pub unpacked: Unpacked,
    pub dir: PathBuf,
    _held: EntryLock,
}

impl Runtime {
    pub fn python(&self) -> PathBuf {
        self.dir.join("bin/python3")
    }
}

pub fn resolve(
    cache: &Cache,
    want: Option<&str>,
    archive: Option<&Path>,
    mirror: Option<&str>,
    progress: &Progress,
) -> Result<Runtime> {
    let store = LayerStore::open(cache.root());
    let req = want.map(str::parse::<PythonRequest>).transpose()?;
    let layer = match (archive, &req) {
        (Some(archive), _) => {
            let layer = import_archive(&store, archive, progress)?;
            if let Some(req) = &req {
                if !req.matches(&layer.python) {
                    bail!(
                        "{} holds Python {}, but Python {req} was asked for",
                        archive.display(),
                        layer.python
                    );
                }
            }
            layer
        }
        (None, Some(req)) => match store.best_match(req)? {
            Some(layer) => layer,
            None => fetch_pbs(&store, req, mirror, progress)?,
        },
        (None, None) => {
            let newest = store
                .list()?
                .into_iter()
                .max_by_key(|l| (l.python, l.created));
            match newest {
                Some(layer) => layer,
                None => fetch_pbs(&store, &DEFAULT_PYTHON.parse()?, mirror, progress)?,
            }
        }
    };
    store.touch(&layer);
    let file =
        File::open(&layer.path).with_context(|| format!("cannot read {}", layer.path.display()))?;
    // SAFETY: cached layers are written once (renamed into place) and never modified.
    let map = unsafe { Mmap::map(&file) }
        .with_context(|| format!("cannot map {}", layer.path.display()))?;
    // TODO(runtimes merge): the layer store records what a layer unpacks to once its layers
    // come from pyk_artifact::write; until then it is measured here, the one place that does.
    let unpacked =
        extract::measure(&map).with_context(|| format!("cannot read {}", layer.path.display()))?;
    let record = trailer::Layer {
        role: Role::Runtime,
        span: Span {
            offset: 0,
            len: map.len() as u64,
        },
        sha256: trailer::sha256_from_hex(&layer.sha256)
            .context("the runtime cache holds a layer with a malformed name")?,
        size: unpacked.size,
        files: unpacked.files,
    };
    let held = install::install(cache, &record, &map)?;
    let dir = cache.entry(install::bucket(Role::Runtime), &layer.sha256);
    Ok(Runtime {
        layer,
        unpacked,
        dir,
        _held: held,
    })
}
