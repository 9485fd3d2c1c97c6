//! The payload zip: the staging directory, written reproducibly.
//!
//! Entries are sorted, dated 1980-01-01 and carry fixed permissions, so the same inputs
//! give the same bytes. The writer is handed a file already positioned after the stub and
//! the runtime layer, so the offsets it records are ABSOLUTE: `unzip`, Python's `zipfile`
//! and zipimport read the whole artifact as a zip with no warning.

use std::fs::{self, File};
use std::io::{self, Seek, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

/// Writes every file and directory under `staging` into a zip on `out`; returns `out`.
pub fn write<W: Write + Seek>(out: W, staging: &Path) -> Result<W> {
    let mut entries = Vec::new();
    walk(staging, staging, &mut entries)?;
    entries.sort();
    let base = SimpleFileOptions::default().last_modified_time(DateTime::default());
    let mut zip = ZipWriter::new(out);
    for (name, path, is_dir) in entries {
        if is_dir {
            zip.add_directory(name, base.unix_permissions(0o755))?;
            continue;
        }
        zip.start_file(
            name,
            base.compression_method(CompressionMethod::Deflated)
                .unix_permissions(0o644),
        )?;
        let mut file =
            File::open(&path).with_context(|| format!("cannot read {}", path.display()))?;
        io::copy(&mut file, &mut zip).with_context(|| format!("cannot pack {}", path.display()))?;
    }
    Ok(zip.finish()?)
}

/// `(name in the zip, path on disk, is a directory)` for everything under `dir`.
fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf, bool)>) -> Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let path = entry?.path();
        let rel = path.strip_prefix(root).unwrap_or(&path);
        let name = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        // metadata() follows symlinks: a linked file is packed as the file it points at.
        let meta =
            fs::metadata(&path).with_context(|| format!("cannot read {}", path.display()))?;
        if meta.is_dir() {
            out.push((format!("{name}/"), path.clone(), true));
            walk(root, &path, out)?;
        } else {
            out.push((name, path, false));
        }
    }
    Ok(())
}
