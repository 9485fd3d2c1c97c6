//! Runtime archives in the python-build-standalone `install_only` layout: a `.tar.gz` or
//! `.tar.zst` with everything under `python/`.
//!
//! Entries are checked one by one before anything is written, because the tar crate's own
//! unpacking silently skips `..` entries instead of failing: an archive with an absolute path,
//! a `..` component, a symlink or hard link leaving the tree, or an entry outside `python/` is
//! refused as a whole.

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use pyk_protocol::digest::HashingReader;

use crate::error::IoContext;
use crate::layer::{self, symlink_stays_inside};
use crate::store::Layer;
use crate::{FetchError, LayerStore, Progress};

/// `pyk --runtime PATH`: turn a local runtime archive into a cached layer.
pub fn import_archive(
    store: &LayerStore,
    archive: &Path,
    progress: &dyn Progress,
) -> Result<Layer, FetchError> {
    // Keyed by the archive's bytes: the next build with the same archive reuses the layer
    // instead of stripping and compressing it again.
    let file = fs::File::open(archive).ctx(|| format!("open {}", archive.display()))?;
    let mut reader = HashingReader::new(file);
    io::copy(&mut reader, &mut io::sink()).ctx(|| format!("read {}", archive.display()))?;
    let digest = reader.hasher().digest();
    let name = archive
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let source = format!("archive {name} (sha256 {digest})");
    if let Some(layer) = store.list()?.into_iter().find(|l| l.source == source) {
        progress.step(&format!("using the cached layer of {name}"));
        return Ok(layer);
    }
    import_archive_as(store, archive, &source, progress)
}

pub(crate) fn import_archive_as(
    store: &LayerStore,
    archive: &Path,
    source: &str,
    progress: &dyn Progress,
) -> Result<Layer, FetchError> {
    progress.step(&format!("unpacking {}", archive.display()));
    let staging = store.scratch_dir()?;
    let root = staging.path().join("runtime");
    fs::create_dir(&root).ctx(|| format!("create {}", root.display()))?;
    unpack(archive, &root)?;
    layer::build(store, &root, source, &[], None, progress)
}

fn open(archive: &Path) -> Result<Box<dyn Read>, FetchError> {
    let mut file = fs::File::open(archive).ctx(|| format!("open {}", archive.display()))?;
    let mut magic = [0u8; 4];
    file.read_exact(&mut magic)
        .map_err(|_| bad(archive, "too short to be an archive"))?;
    let file = io::BufReader::new(io::Cursor::new(magic).chain(file));
    match magic {
        [0x1f, 0x8b, ..] => Ok(Box::new(flate2::read::GzDecoder::new(file))),
        [0x28, 0xb5, 0x2f, 0xfd] => Ok(Box::new(
            zstd::stream::read::Decoder::new(file).ctx(|| format!("read {}", archive.display()))?,
        )),
        _ => Err(bad(archive, "expected a .tar.gz or .tar.zst")),
    }
}

fn bad(archive: &Path, reason: &str) -> FetchError {
    FetchError::BadArchive {
        archive: archive.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// Path of an entry inside `python/`, or why it is refused. `None` for `python/` itself.
fn inner_path(raw: &Path) -> Result<Option<PathBuf>, &'static str> {
    let mut parts = raw.components().filter(|c| *c != Component::CurDir);
    match parts.next() {
        Some(Component::Normal(top)) if top == "python" => {}
        Some(Component::RootDir | Component::Prefix(_)) => return Err("is an absolute path"),
        Some(Component::ParentDir) => return Err("contains '..'"),
        _ => return Err("is outside the top directory python/"),
    }
    let mut out = PathBuf::new();
    for c in parts {
        match c {
            Component::Normal(p) => out.push(p),
            Component::ParentDir => return Err("contains '..'"),
            _ => return Err("is an absolute path"),
        }
    }
    Ok((!out.as_os_str().is_empty()).then_some(out))
}

/// Refuse to write through a symlink an earlier entry created.
fn no_symlink_ancestor(root: &Path, rel: &Path) -> bool {
    let mut cur = root.to_path_buf();
    for c in rel.parent().unwrap_or(Path::new("")).components() {
        cur.push(c);
        if fs::symlink_metadata(&cur).is_ok_and(|m| m.file_type().is_symlink()) {
            return false;
        }
    }
    true
}

fn unpack(archive: &Path, root: &Path) -> Result<(), FetchError> {
    let mut tar = tar::Archive::new(open(archive)?);
    let read_err = |source: io::Error| FetchError::Io {
        context: format!("{} is not a runtime archive", archive.display()),
        source,
    };
    for entry in tar.entries().map_err(read_err)? {
        let mut entry = entry.map_err(read_err)?;
        let raw = entry.path().map_err(read_err)?.into_owned();
        let unsafe_entry = |reason: &str| FetchError::UnsafeArchive {
            archive: archive.to_path_buf(),
            entry: raw.display().to_string(),
            reason: reason.to_string(),
        };
        let Some(rel) = inner_path(&raw).map_err(unsafe_entry)? else {
            continue;
        };
        if !no_symlink_ancestor(root, &rel) {
            return Err(unsafe_entry("would be written through a symlink"));
        }
        let dest = root.join(&rel);
        let kind = entry.header().entry_type();
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).ctx(|| format!("create {}", parent.display()))?;
        }
        match kind {
            tar::EntryType::Directory => {
                fs::create_dir_all(&dest).ctx(|| format!("create {}", dest.display()))?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let mode = entry.header().mode().map_err(read_err)?;
                let mut out =
                    fs::File::create(&dest).ctx(|| format!("create {}", dest.display()))?;
                io::copy(&mut entry, &mut out).map_err(read_err)?;
                let mode = if mode & 0o111 != 0 { 0o755 } else { 0o644 };
                fs::set_permissions(&dest, fs::Permissions::from_mode(mode))
                    .ctx(|| format!("chmod {}", dest.display()))?;
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(read_err)?
                    .ok_or_else(|| unsafe_entry("is a symlink without a target"))?
                    .into_owned();
                if !symlink_stays_inside(&rel, &target) {
                    return Err(unsafe_entry(&format!(
                        "is a symlink to {} outside the runtime",
                        target.display()
                    )));
                }
                std::os::unix::fs::symlink(&target, &dest)
                    .ctx(|| format!("create symlink {}", dest.display()))?;
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name()
                    .map_err(read_err)?
                    .ok_or_else(|| unsafe_entry("is a hard link without a target"))?
                    .into_owned();
                let target_rel = inner_path(&target)
                    .ok()
                    .flatten()
                    .filter(|t| no_symlink_ancestor(root, t))
                    .ok_or_else(|| unsafe_entry("is a hard link outside the runtime"))?;
                let src = root.join(target_rel);
                fs::copy(&src, &dest).ctx(|| format!("copy {}", src.display()))?;
            }
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader => {}
            _ => return Err(unsafe_entry("is not a file, directory or link")),
        }
    }
    if fs::symlink_metadata(root.join("bin/python3")).is_err() {
        return Err(bad(archive, "python/bin/python3 is missing"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::inner_path;
    use std::path::{Path, PathBuf};

    #[test]
    fn entry_paths() {
        let p = |s: &str| inner_path(Path::new(s));
        assert_eq!(
            p("python/bin/python3"),
            Ok(Some(PathBuf::from("bin/python3")))
        );
        assert_eq!(p("./python/lib/"), Ok(Some(PathBuf::from("lib"))));
        assert_eq!(p("python/"), Ok(None));
        assert!(p("python/../evil").is_err());
        assert!(p("/etc/passwd").is_err());
        assert!(p("other/x").is_err());
        assert!(p("../x").is_err());
    }
}
