//! The glibc floor of a tree: the highest `GLIBC_x.y` symbol version any of its ELF files
//! needs. The artifact's floor is the highest of its layers', so the launcher can say
//! "needs glibc ≥ X" instead of letting the dynamic loader fail on the first import.

use std::fs::{self, File};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{Context, Result};
use goblin::elf::Elf;
use memmap2::Mmap;

/// The highest glibc version needed under `dir`, if any ELF file there links glibc.
pub fn floor(dir: &Path) -> Result<Option<(u32, u32)>> {
    let mut highest = None;
    walk(dir, &mut highest)?;
    Ok(highest)
}

fn walk(dir: &Path, highest: &mut Option<(u32, u32)>) -> Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry?;
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk(&path, highest)?;
        } else if kind.is_file() && maybe_elf(&path, &entry.metadata()?) {
            *highest = (*highest).max(needed(&path)?);
        }
    }
    Ok(())
}

/// Shared libraries and extension modules (`x.so`, `libx.so.1`) and executables.
fn maybe_elf(path: &Path, meta: &fs::Metadata) -> bool {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    name.ends_with(".so") || name.contains(".so.") || meta.permissions().mode() & 0o111 != 0
}

/// The highest `GLIBC_x.y` this file needs; `None` for non-ELF files.
fn needed(path: &Path) -> Result<Option<(u32, u32)>> {
    let file = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    if file.metadata()?.len() < 64 {
        return Ok(None);
    }
    // SAFETY: read-only map of a staged file nothing else writes while the build runs.
    let map =
        unsafe { Mmap::map(&file) }.with_context(|| format!("cannot map {}", path.display()))?;
    if !map.starts_with(b"\x7fELF") {
        return Ok(None);
    }
    let Ok(elf) = Elf::parse(&map) else {
        return Ok(None);
    };
    let mut highest = None;
    if let Some(verneed) = &elf.verneed {
        for need in verneed.iter() {
            for aux in need.iter() {
                let version = elf
                    .dynstrtab
                    .get_at(aux.vna_name)
                    .and_then(|n| n.strip_prefix("GLIBC_"))
                    .and_then(pyk_artifact::trailer::parse_version);
                highest = highest.max(version);
            }
        }
    }
    Ok(highest)
}
