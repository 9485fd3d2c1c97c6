//! Make ELF files in a runtime tree find their libraries relative to themselves.
//!
//! pyenv-style builds link `libpython3.X.so` through an absolute RUNPATH; a moved copy then
//! fails, or silently loads the original while it still exists. We rewrite each RUNPATH/RPATH to
//! `$ORIGIN/<path to lib/>` in place: the new string is shorter than the build prefix, so it is
//! written over the old one in `.dynstr` and padded with NULs; no tool needs to be installed.
//! `patchelf`, when on PATH, is the fallback for the rare file where that is not possible.

use std::fs;
use std::path::{Component, Path};
use std::process::Command;

use goblin::elf::dynamic::{DT_NEEDED, DT_RPATH, DT_RUNPATH, DT_SONAME};
use goblin::elf::Elf;

use crate::error::IoContext;
use crate::FetchError;

fn relocate_err(path: &Path, reason: impl Into<String>) -> FetchError {
    FetchError::Relocate {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn is_elf(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && magic == *b"\x7fELF"
}

/// The `libpython*` entries among an ELF file's DT_NEEDED.
pub(crate) fn needed_libpython(path: &Path) -> Result<Vec<String>, FetchError> {
    let bytes = fs::read(path).ctx(|| format!("read {}", path.display()))?;
    let elf =
        Elf::parse(&bytes).map_err(|e| relocate_err(path, format!("not an ELF file: {e}")))?;
    Ok(elf
        .libraries
        .iter()
        .filter(|l| l.starts_with("libpython"))
        .map(|l| l.to_string())
        .collect())
}

/// Rewrite the RUNPATH/RPATH of every ELF file in `bin/`, `lib/` and the stdlib's lib-dynload
/// that does not already use `$ORIGIN`, so each finds `lib/` relative to itself.
pub(crate) fn relocate_tree(root: &Path) -> Result<(), FetchError> {
    let mut dirs = vec![root.join("bin"), root.join("lib")];
    if let Ok(entries) = fs::read_dir(root.join("lib")) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with("python3") {
                dirs.push(entry.path().join("lib-dynload"));
            }
        }
    }
    for dir in dirs {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        let mut paths: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for path in paths {
            let is_file = fs::symlink_metadata(&path).is_ok_and(|m| m.is_file());
            if is_file && is_elf(&path) {
                let rel_dir = path
                    .parent()
                    .and_then(|d| d.strip_prefix(root).ok())
                    .unwrap_or(Path::new(""));
                relocate_file(&path, &origin_path_to_lib(rel_dir))?;
            }
        }
    }
    Ok(())
}

/// `$ORIGIN`-relative path from a directory (relative to the runtime root) to `lib/`.
fn origin_path_to_lib(rel_dir: &Path) -> String {
    let parts: Vec<_> = rel_dir
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect();
    let mut out = String::from("$ORIGIN");
    if parts.first().is_some_and(|c| c.as_os_str() == "lib") {
        for _ in 1..parts.len() {
            out.push_str("/..");
        }
    } else {
        for _ in 0..parts.len() {
            out.push_str("/..");
        }
        out.push_str("/lib");
    }
    out
}

fn relocate_file(path: &Path, new: &str) -> Result<(), FetchError> {
    let mut bytes = fs::read(path).ctx(|| format!("read {}", path.display()))?;
    let patches = {
        let elf = Elf::parse(&bytes).map_err(|e| relocate_err(path, e.to_string()))?;
        if elf
            .rpaths
            .iter()
            .chain(&elf.runpaths)
            .all(|p| p.starts_with("$ORIGIN"))
        {
            return Ok(());
        }
        match in_place_patches(&elf, &bytes, new) {
            Ok(patches) => patches,
            Err(reason) => return patchelf(path, new, &reason),
        }
    };
    for (offset, len) in patches {
        let slot = &mut bytes[offset..offset + len];
        slot.fill(0);
        slot[..new.len()].copy_from_slice(new.as_bytes());
    }
    fs::write(path, &bytes).ctx(|| format!("write {}", path.display()))
}

/// (file offset, length) of each RUNPATH/RPATH string, if all can take `new` in place.
fn in_place_patches(elf: &Elf, bytes: &[u8], new: &str) -> Result<Vec<(usize, usize)>, String> {
    let dynamic = elf.dynamic.as_ref().ok_or("no dynamic section")?;
    let strtab = dynamic.info.strtab;
    let strsz = dynamic.info.strsz;
    if strtab == 0 || strtab + strsz > bytes.len() {
        return Err("dynamic string table out of bounds".into());
    }
    let table = &bytes[strtab..strtab + strsz];
    // Linkers may share string tails; never overwrite bytes another name points into.
    let mut others: Vec<usize> = dynamic
        .dyns
        .iter()
        .filter(|d| matches!(d.d_tag, DT_NEEDED | DT_SONAME))
        .map(|d| d.d_val as usize)
        .collect();
    others.extend(elf.dynsyms.iter().map(|s| s.st_name));
    let mut patches = Vec::new();
    for d in dynamic
        .dyns
        .iter()
        .filter(|d| matches!(d.d_tag, DT_RPATH | DT_RUNPATH))
    {
        let start = d.d_val as usize;
        let len = table
            .get(start..)
            .and_then(|rest| rest.iter().position(|&b| b == 0))
            .ok_or("RUNPATH string out of bounds")?;
        if new.len() > len {
            return Err(format!("new RUNPATH {new:?} is longer than the old one"));
        }
        if others.iter().any(|&o| o > start && o <= start + len) {
            return Err("RUNPATH string shares bytes with another name".into());
        }
        patches.push((strtab + start, len));
    }
    Ok(patches)
}

fn patchelf(path: &Path, new: &str, why: &str) -> Result<(), FetchError> {
    match Command::new("patchelf")
        .arg("--set-rpath")
        .arg(new)
        .arg(path)
        .output()
    {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(relocate_err(
            path,
            format!(
                "{why}; patchelf failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        )),
        Err(_) => Err(relocate_err(
            path,
            format!("{why}, and patchelf is not installed"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::origin_path_to_lib;
    use std::path::Path;

    #[test]
    fn origin_paths() {
        assert_eq!(origin_path_to_lib(Path::new("bin")), "$ORIGIN/../lib");
        assert_eq!(origin_path_to_lib(Path::new("lib")), "$ORIGIN");
        assert_eq!(
            origin_path_to_lib(Path::new("lib/python3.12/lib-dynload")),
            "$ORIGIN/../.."
        );
    }
}
