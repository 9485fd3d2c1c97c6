//! Writing the artifact `[stub][runtime layer][payload zip][trailer]` atomically.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{Context, Result};
use pyk_artifact::trailer::{Kind, Span, Trailer};
use sha2::{Digest, Sha256};

use super::payload;
use crate::stub_bin::STUB;

/// What goes into an artifact besides the staged payload.
pub struct Parts<'a> {
    pub name: &'a str,
    pub kind: Kind,
    pub python: (u8, u8),
    pub layer: &'a Path,
    pub layer_sha256: [u8; 32],
}

/// Writes the artifact to `output` (replacing it atomically) and returns its size.
pub fn write(parts: &Parts, staging: &Path, output: &Path) -> Result<u64> {
    let dir = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".pyk-build-")
        .tempfile_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    let file = tmp.as_file_mut();
    let ctx = || format!("cannot write {}", output.display());

    file.write_all(STUB).with_context(ctx)?;
    let runtime_offset = STUB.len() as u64;
    let mut layer = File::open(parts.layer)
        .with_context(|| format!("cannot read {}", parts.layer.display()))?;
    let runtime_len = io::copy(&mut layer, file).with_context(ctx)?;

    let payload_offset = runtime_offset + runtime_len;
    let file = payload::write(file, staging)?;
    let payload_end = file.stream_position().with_context(ctx)?;
    let payload_sha256 = hash_range(file, payload_offset, payload_end).with_context(ctx)?;

    let trailer = Trailer {
        kind: parts.kind,
        name: parts.name.to_owned(),
        python: parts.python,
        runtime: Span {
            offset: runtime_offset,
            len: runtime_len,
        },
        runtime_sha256: parts.layer_sha256,
        payload: Span {
            offset: payload_offset,
            len: payload_end - payload_offset,
        },
        payload_sha256,
    };
    file.seek(SeekFrom::Start(payload_end)).with_context(ctx)?;
    file.write_all(&trailer.encode()).with_context(ctx)?;
    file.set_permissions(fs::Permissions::from_mode(0o755))
        .with_context(ctx)?;
    file.sync_all().with_context(ctx)?;
    let size = file.metadata().with_context(ctx)?.len();
    tmp.persist(output).map_err(|e| e.error).with_context(ctx)?;
    // The rename is durable only once the directory is.
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(ctx)?;
    Ok(size)
}

fn hash_range(file: &mut File, start: u64, end: u64) -> io::Result<[u8; 32]> {
    file.seek(SeekFrom::Start(start))?;
    let mut hasher = Sha256::new();
    io::copy(&mut Read::by_ref(file).take(end - start), &mut hasher)?;
    Ok(hasher.finalize().into())
}
