//! Reading one file out of an artifact's app layer without unpacking it: how `pyk info
//! FILE` and `pyk publish` find the API tree the build recorded.

use std::fs::File;
use std::path::Path;

use anyhow::{Context, Result};
use memmap2::Mmap;
use pyk_artifact::extract::{self, Limits};
use pyk_artifact::trailer::{Role, Trailer};

/// The most bytes the file may have: an API tree is kilobytes, a few MiB for the largest
/// libraries.
const MAX_FILE: u64 = 64 << 20;

/// The bytes of `name` at the top of `artifact`'s app layer, if it has one. The layer is
/// decoded as a stream, within what the trailer declares, as extraction decodes it (the
/// search stops at the file: the writer sorts entries, so it comes early).
pub fn read_app_file(artifact: &Path, name: &str) -> Result<Option<Vec<u8>>> {
    let shown = artifact.display();
    let file = File::open(artifact).with_context(|| format!("cannot read {shown}"))?;
    let trailer = Trailer::read(&file).with_context(|| format!("{shown}"))?;
    let layer = trailer
        .layer(Role::App)
        .with_context(|| format!("{shown} has no app layer"))?;
    // SAFETY: read-only, while this function reads it; a file truncated meanwhile would
    // fault, as with any mapped file.
    let map = unsafe { Mmap::map(&file) }.with_context(|| format!("cannot read {shown}"))?;
    let bytes = usize::try_from(layer.span.offset)
        .ok()
        .zip(usize::try_from(layer.span.end()).ok())
        .and_then(|(start, end)| map.get(start..end))
        .with_context(|| format!("{shown}: truncated app layer"))?;
    let limits = Limits {
        size: layer.size,
        files: layer.files,
    };
    extract::read_file(bytes, limits, Path::new(name), MAX_FILE)
        .with_context(|| format!("{shown}: app layer"))
}
