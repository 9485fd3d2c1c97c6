//! Installing a runtime layer (`.tar.zst`) into the cache, safely and exactly once.
//!
//! The layer is decompressed into a sibling work directory while another thread hashes
//! the compressed bytes; only when the hash matches the trailer's is the work directory
//! renamed into place. All of this happens under an exclusive lock on `<sha>.lock`, so
//! twenty simultaneous first runs extract once and the others wait and then find the
//! finished directory. A process killed mid-way leaves only a `.<sha>.<pid>.tmp` work
//! directory, which no reader trusts and the next extractor removes.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::cache;
use crate::trailer::hex;

/// Why a runtime could not be installed.
#[derive(Debug)]
pub enum UnpackError {
    /// The cache directory can't be created or written (read-only home, wrong owner…).
    /// Callers may retry with another cache root.
    CacheUnwritable { path: PathBuf, source: io::Error },
    /// The layer's bytes don't hash to the expected sha256.
    Corrupt { expected: String, actual: String },
    /// The archive has an entry that would land outside the target, or one of a kind
    /// a runtime never needs (device, fifo).
    Hostile { entry: String, why: &'static str },
    /// The layer is not a valid zstd-compressed tar.
    Format(String),
    /// Writing the runtime failed (disk full, I/O error).
    Io { path: PathBuf, source: io::Error },
}

impl fmt::Display for UnpackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnpackError::CacheUnwritable { path, source } => {
                write!(
                    f,
                    "cache directory {} is not writable: {source}",
                    path.display()
                )
            }
            UnpackError::Corrupt { expected, actual } => write!(
                f,
                "corrupt runtime layer: sha256 is {actual}, the trailer says {expected}"
            ),
            UnpackError::Hostile { entry, why } => {
                write!(f, "refusing runtime archive entry {entry:?}: {why}")
            }
            UnpackError::Format(why) => write!(f, "damaged runtime layer: {why}"),
            UnpackError::Io { path, source } => {
                write!(f, "cannot unpack runtime into {}: {source}", path.display())
            }
        }
    }
}

impl std::error::Error for UnpackError {}

/// Returns the directory of the runtime whose compressed layer is `layer` (sha256
/// `sha256_hex`) under `cache_root`, unpacking it first if no other process has.
pub fn install(cache_root: &Path, sha256_hex: &str, layer: &[u8]) -> Result<PathBuf, UnpackError> {
    let target = cache::runtime_dir(cache_root, sha256_hex);
    if target.is_dir() {
        return Ok(target);
    }
    let parent = cache::runtimes_dir(cache_root);
    let unwritable = |source| UnpackError::CacheUnwritable {
        path: parent.clone(),
        source,
    };
    fs::create_dir_all(&parent).map_err(unwritable)?;
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(parent.join(format!("{sha256_hex}.lock")))
        .map_err(unwritable)?;
    lock.lock().map_err(unwritable)?;
    // Whoever held the lock before us may have finished the job.
    if target.is_dir() {
        return Ok(target);
    }
    remove_stale_work_dirs(&parent, sha256_hex);

    let work = parent.join(format!(".{sha256_hex}.{}.tmp", std::process::id()));
    let result = unpack_verified(layer, sha256_hex, &work).and_then(|()| {
        fs::rename(&work, &target).map_err(|source| UnpackError::Io {
            path: target.clone(),
            source,
        })
    });
    if result.is_err() {
        let _ = fs::remove_dir_all(&work);
    }
    result.map(|()| target)
}

/// Work directories left by killed extractions of this layer. Only called under the lock,
/// so none of them belongs to a live process.
fn remove_stale_work_dirs(parent: &Path, sha256_hex: &str) {
    let prefix = format!(".{sha256_hex}.");
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(&prefix) && name.ends_with(".tmp") {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// Unpacks into `work` (which must not exist) while a second thread hashes the layer.
fn unpack_verified(layer: &[u8], expected: &str, work: &Path) -> Result<(), UnpackError> {
    fs::create_dir(work).map_err(|source| UnpackError::Io {
        path: work.to_path_buf(),
        source,
    })?;
    let (actual, unpacked) = std::thread::scope(|s| {
        let hasher = s.spawn(|| hex(&Sha256::digest(layer)));
        let unpacked = unpack_tar_zst(layer, work);
        (hasher.join().unwrap_or_default(), unpacked)
    });
    // A corrupt layer usually also fails to decompress: report the cause, not the symptom.
    if actual != expected {
        return Err(UnpackError::Corrupt {
            expected: expected.to_owned(),
            actual,
        });
    }
    unpacked
}

/// Decompresses and unpacks a `.tar.zst`, refusing entries that would escape `dest`.
pub fn unpack_tar_zst(layer: &[u8], dest: &Path) -> Result<(), UnpackError> {
    let mut archive = tar::Archive::new(ZstdFrames::new(layer));
    archive.set_preserve_mtime(false);
    let fail = |e: io::Error| classify(e, dest);
    for entry in archive.entries().map_err(fail)? {
        let mut entry = entry.map_err(fail)?;
        check_entry(&entry)?;
        entry.unpack_in(dest).map_err(fail)?;
    }
    Ok(())
}

/// Tells an operating-system failure (disk full, permission) from a damaged archive. The
/// tar crate wraps OS errors in its own, so look for the innermost one with an errno.
fn classify(e: io::Error, dest: &Path) -> UnpackError {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    let mut errno = None;
    while let Some(err) = cur {
        if let Some(code) = err
            .downcast_ref::<io::Error>()
            .and_then(io::Error::raw_os_error)
        {
            errno = Some(code);
        }
        cur = err.source();
    }
    match errno {
        Some(code) => UnpackError::Io {
            path: dest.to_path_buf(),
            source: io::Error::from_raw_os_error(code),
        },
        None => UnpackError::Format(e.to_string()),
    }
}

fn check_entry<R: Read>(entry: &tar::Entry<R>) -> Result<(), UnpackError> {
    let path = entry
        .path()
        .map_err(|e| UnpackError::Format(e.to_string()))?;
    let shown = path.display().to_string();
    let hostile = |why| UnpackError::Hostile {
        entry: shown.clone(),
        why,
    };
    let depth =
        relative_depth(&path).ok_or_else(|| hostile("path leaves the runtime directory"))?;
    let kind = entry.header().entry_type();
    if kind.is_symlink() || kind.is_hard_link() {
        let link = entry
            .link_name()
            .map_err(|e| UnpackError::Format(e.to_string()))?
            .ok_or_else(|| hostile("link without a target"))?;
        // A symlink resolves from its own directory, a hard link from the archive root.
        let base = if kind.is_symlink() {
            depth.saturating_sub(1)
        } else {
            0
        };
        if !stays_inside(&link, base) {
            return Err(hostile("link target leaves the runtime directory"));
        }
    } else if !(kind.is_file() || kind.is_dir() || kind.is_pax_global_extensions()) {
        return Err(hostile("not a file, directory or link"));
    }
    Ok(())
}

/// The number of components of a relative path made only of names (and `.`), or `None`
/// for an absolute path or one with `..`.
fn relative_depth(path: &Path) -> Option<usize> {
    let mut depth = 0;
    for c in path.components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(depth)
}

/// Whether `target`, followed from a directory `base` levels deep, stays inside the root.
fn stays_inside(target: &Path, base: usize) -> bool {
    let mut depth = base as isize;
    for c in target.components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    true
}

/// Reads all zstd frames of a buffer in sequence (a multi-threaded encoder may write
/// several).
struct ZstdFrames<'a> {
    rest: &'a [u8],
    frame: Option<ruzstd::decoding::StreamingDecoder<&'a [u8], ruzstd::decoding::FrameDecoder>>,
}

impl<'a> ZstdFrames<'a> {
    fn new(data: &'a [u8]) -> Self {
        ZstdFrames {
            rest: data,
            frame: None,
        }
    }
}

impl Read for ZstdFrames<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some(frame) = &mut self.frame {
                let n = frame.read(buf)?;
                if n > 0 || buf.is_empty() {
                    return Ok(n);
                }
                self.rest = self
                    .frame
                    .take()
                    .map(|f| f.into_inner())
                    .unwrap_or_default();
            }
            if self.rest.is_empty() {
                return Ok(0);
            }
            let decoder = ruzstd::decoding::StreamingDecoder::new(self.rest)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
            self.frame = Some(decoder);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_and_escape_rules() {
        assert_eq!(relative_depth(Path::new("bin/python3")), Some(2));
        assert_eq!(relative_depth(Path::new("./lib")), Some(1));
        assert_eq!(relative_depth(Path::new("../x")), None);
        assert_eq!(relative_depth(Path::new("/etc/passwd")), None);
        assert_eq!(relative_depth(Path::new("lib/../../x")), None);
        // bin/python3 -> python3.11 stays inside; lib/x -> ../../etc does not.
        assert!(stays_inside(Path::new("python3.11"), 1));
        assert!(stays_inside(Path::new("../lib/libpython.so"), 1));
        assert!(!stays_inside(Path::new("../../etc"), 1));
        assert!(!stays_inside(Path::new("/etc"), 1));
    }
}
