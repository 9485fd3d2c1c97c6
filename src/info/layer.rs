//! Reading one file out of an artifact's app layer without unpacking it: how `pyk info
//! FILE` and `pyk publish` find the API tree the build recorded.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result};
use pyk_artifact::trailer::{Role, Trailer};

/// The bytes of `name` at the top of `artifact`'s app layer, if it has one.
pub fn read_app_file(artifact: &Path, name: &str) -> Result<Option<Vec<u8>>> {
    let shown = artifact.display();
    let file = File::open(artifact).with_context(|| format!("cannot read {shown}"))?;
    let trailer = Trailer::read(&file).with_context(|| format!("{shown}"))?;
    let layer = trailer
        .layer(Role::App)
        .with_context(|| format!("{shown} has no app layer"))?;
    let mut bytes = vec![0u8; usize::try_from(layer.span.len)?];
    std::os::unix::fs::FileExt::read_exact_at(&file, &mut bytes, layer.span.offset)
        .with_context(|| format!("cannot read {shown}"))?;
    // What extraction allows: the declared file bytes plus room for tar headers.
    let budget = layer
        .size
        .saturating_add(layer.files.saturating_mul(3 * 512))
        .saturating_add(1 << 20);
    // A stream reader: the layer's frames are decoded one after the other, and the
    // search stops at the file (the writer sorts entries, so it comes early).
    let decoder = zstd::stream::read::Decoder::with_buffer(&bytes[..])
        .with_context(|| format!("{shown}: app layer"))?;
    let mut archive = tar::Archive::new(decoder.take(budget));
    for entry in archive.entries()? {
        let mut entry = entry.with_context(|| format!("{shown}: damaged app layer"))?;
        let path = entry.path()?;
        if path == Path::new(name) || path == Path::new(".").join(name) {
            let mut out = Vec::new();
            entry
                .read_to_end(&mut out)
                .with_context(|| format!("{shown}: damaged app layer"))?;
            return Ok(Some(out));
        }
    }
    Ok(None)
}
