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
use pyk_runtime_fetch::{fetch_pbs, import_archive, Layer, LayerStore, Progress, PythonRequest};

/// The Python release downloaded when nothing is asked for and nothing is cached.
pub const DEFAULT_PYTHON: &str = "3.13";

/// A runtime layer and the directory it is unpacked in.
pub struct Runtime {
    pub layer: Layer,
    pub dir: PathBuf,
}

impl Runtime {
    pub fn python(&self) -> PathBuf {
        self.dir.join("bin/python3")
    }
}

pub fn resolve(
    cache_root: &Path,
    want: Option<&str>,
    archive: Option<&Path>,
    mirror: Option<&str>,
    progress: &Progress,
) -> Result<Runtime> {
    let store = LayerStore::open(cache_root);
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
    let dir = pyk_artifact::unpack::install(cache_root, &layer.sha256, &map)?;
    Ok(Runtime { layer, dir })
}
