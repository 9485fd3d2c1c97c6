//! Unpacking a layer (`.tar.zst`) into a fresh directory, fast and refusing what a layer
//! must never do.
//!
//! Frames are decoded and written by up to four threads at once. Each file is one
//! `open(O_CREAT|O_EXCL)` with its final mode, one `write` and one `close`: no `chmod`,
//! no `utime`, no `fsync` (the entry is renamed into place only after its hash checked
//! out; see `install`). Refused, with the entry named: absolute paths and `..`, device
//! files, fifos and hard links, a second entry at the same path, links whose target —
//! resolved against the links already made, so `a/up/../..` with `a/up -> ..` counts —
//! leaves the layer, anything inside a link, and more bytes or entries than the trailer
//! declares. Links are made last, so no file is ever written through one.

use std::collections::HashMap;
use std::fs::{DirBuilder, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::frames;

/// What a layer may unpack to, from its trailer.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Bytes of file data.
    pub size: u64,
    /// Entries of any kind.
    pub files: u64,
}

/// What a layer unpacked to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Unpacked {
    pub size: u64,
    pub files: u64,
}

/// Why a layer could not be unpacked.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("corrupt {role} layer: sha256 is {actual}, the trailer says {expected}")]
    Corrupt {
        role: &'static str,
        expected: String,
        actual: String,
    },
    #[error("refusing layer entry {entry:?}: {why}")]
    Hostile { entry: String, why: &'static str },
    #[error("damaged layer: {0}")]
    Format(String),
    #[error("layer unpacks to more than the {limit} {what} its trailer declares")]
    TooBig { what: &'static str, limit: u64 },
    #[error("cannot write {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// A link to make once every file is written; `order` is its place in the archive.
struct Link {
    order: (usize, usize),
    path: PathBuf,
    target: PathBuf,
}

/// Shared by the threads unpacking one layer.
struct Job<'a> {
    frames: Vec<&'a [u8]>,
    dest: &'a Path,
    limits: Limits,
    /// Tar bytes a frame may still decode to: file data plus generous room for headers.
    decode_budget: AtomicU64,
    next: AtomicUsize,
    size: AtomicU64,
    files: AtomicU64,
    failed: AtomicBool,
    error: Mutex<Option<ExtractError>>,
    links: Mutex<Vec<Link>>,
}

/// Most threads that write at once: beyond this, the filesystem, not the CPU, is the limit.
const MAX_THREADS: usize = 4;

/// Unpacks `layer` into `dest`, an existing empty directory.
pub fn extract(layer: &[u8], dest: &Path, limits: Limits) -> Result<Unpacked, ExtractError> {
    let frames = frames::split(layer)?;
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(MAX_THREADS)
        .min(frames.len())
        .max(1);
    let job = Job {
        frames,
        dest,
        limits,
        decode_budget: AtomicU64::new(
            limits
                .size
                .saturating_add(limits.files.saturating_mul(3 * 512))
                .saturating_add(1 << 20),
        ),
        next: AtomicUsize::new(0),
        size: AtomicU64::new(0),
        files: AtomicU64::new(0),
        failed: AtomicBool::new(false),
        error: Mutex::new(None),
        links: Mutex::new(Vec::new()),
    };
    std::thread::scope(|s| {
        for _ in 1..threads {
            s.spawn(|| job.work());
        }
        job.work();
    });
    if let Some(e) = job.error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let mut links = job.links.into_inner().unwrap_or_else(|p| p.into_inner());
    links.sort_by_key(|l| l.order);
    make_links(dest, links)?;
    Ok(Unpacked {
        size: job.size.into_inner(),
        files: job.files.into_inner(),
    })
}

/// What a layer unpacks to, found by decoding it without writing anything. For layers
/// whose writer did not record it.
pub fn measure(layer: &[u8]) -> Result<Unpacked, ExtractError> {
    let mut unpacked = Unpacked::default();
    let mut buf = Vec::new();
    let format = |e: io::Error| ExtractError::Format(e.to_string());
    for frame in frames::split(layer)? {
        frames::decode(frame, u64::MAX, &mut buf)?;
        for entry in tar::Archive::new(&buf[..]).entries().map_err(format)? {
            let entry = entry.map_err(format)?;
            let kind = entry.header().entry_type();
            let root =
                relative(&entry.path().map_err(format)?).is_some_and(|p| p.as_os_str().is_empty());
            if kind.is_pax_global_extensions() || root {
                continue;
            }
            unpacked.files += 1;
            if kind.is_file() || kind.is_contiguous() {
                unpacked.size += entry.size();
            }
        }
    }
    Ok(unpacked)
}

impl Job<'_> {
    fn work(&self) {
        let mut buf = Vec::new();
        while !self.failed.load(Ordering::Relaxed) {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            let Some(frame) = self.frames.get(i) else {
                return;
            };
            if let Err(e) = self.frame(i, frame, &mut buf) {
                self.failed.store(true, Ordering::Relaxed);
                let mut slot = self.error.lock().unwrap_or_else(|p| p.into_inner());
                slot.get_or_insert(e);
                return;
            }
        }
    }

    fn frame(&self, index: usize, frame: &[u8], buf: &mut Vec<u8>) -> Result<(), ExtractError> {
        frames::decode(frame, self.decode_budget.load(Ordering::Relaxed), buf)?;
        let left = self
            .decode_budget
            .fetch_sub(buf.len() as u64, Ordering::Relaxed);
        if (buf.len() as u64) > left {
            return Err(ExtractError::TooBig {
                what: "bytes",
                limit: self.limits.size,
            });
        }
        let format = |e: io::Error| ExtractError::Format(e.to_string());
        let mut archive = tar::Archive::new(&buf[..]);
        for (n, entry) in archive.entries().map_err(format)?.enumerate() {
            if self.failed.load(Ordering::Relaxed) {
                return Ok(());
            }
            let entry = entry.map_err(format)?;
            let kind = entry.header().entry_type();
            if kind.is_pax_global_extensions() {
                continue;
            }
            let raw = entry.path().map_err(format)?;
            let shown = raw.display().to_string();
            let hostile = |why| ExtractError::Hostile {
                entry: shown.clone(),
                why,
            };
            let rel = relative(&raw).ok_or_else(|| hostile("path leaves the layer"))?;
            if rel.as_os_str().is_empty() {
                // `./`, the layer's own root.
                if kind.is_dir() {
                    continue;
                }
                return Err(hostile("not a directory"));
            }
            if self.files.fetch_add(1, Ordering::Relaxed) >= self.limits.files {
                return Err(ExtractError::TooBig {
                    what: "entries",
                    limit: self.limits.files,
                });
            }
            let path = self.dest.join(&rel);
            if kind.is_dir() {
                DirBuilder::new()
                    .recursive(true)
                    .mode(0o755)
                    .create(&path)
                    .map_err(|source| io_error(&path, source))?;
            } else if kind.is_file() || kind.is_contiguous() {
                let size = entry.size();
                let total = self.size.fetch_add(size, Ordering::Relaxed) + size;
                if total > self.limits.size {
                    return Err(ExtractError::TooBig {
                        what: "bytes",
                        limit: self.limits.size,
                    });
                }
                let start = usize::try_from(entry.raw_file_position()).unwrap_or(usize::MAX);
                let data = usize::try_from(size)
                    .ok()
                    .and_then(|len| buf.get(start..start.checked_add(len)?))
                    .ok_or_else(|| ExtractError::Format(format!("{shown}: truncated")))?;
                let exec = entry.header().mode().map_err(format)? & 0o111 != 0;
                write_file(&path, data, exec).map_err(|e| match e.kind() {
                    io::ErrorKind::AlreadyExists => hostile("a second entry at the same path"),
                    _ => io_error(&path, e),
                })?;
            } else if kind.is_symlink() {
                let target = entry
                    .link_name()
                    .map_err(format)?
                    .ok_or_else(|| hostile("link without a target"))?
                    .into_owned();
                let mut links = self.links.lock().unwrap_or_else(|p| p.into_inner());
                links.push(Link {
                    order: (index, n),
                    path: rel,
                    target,
                });
            } else {
                return Err(hostile("not a file, directory or symbolic link"));
            }
        }
        Ok(())
    }
}

fn io_error(path: &Path, source: io::Error) -> ExtractError {
    ExtractError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One open, one write, one close. The parent is made when its own entry has not been
/// reached yet (another thread may be on it).
fn write_file(path: &Path, data: &[u8], exec: bool) -> io::Result<()> {
    let open = || {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(if exec { 0o755 } else { 0o644 })
            .open(path)
    };
    let mut file = match open() {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if let Some(parent) = path.parent() {
                DirBuilder::new()
                    .recursive(true)
                    .mode(0o755)
                    .create(parent)?;
            }
            open()?
        }
        other => other?,
    };
    file.write_all(data)
}

/// The path's names, or `None` if it is absolute or has `..` (`.` is dropped).
fn relative(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(name) => out.push(name),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(out)
}

/// Makes the layer's links in archive order, each checked against those made before it.
fn make_links(dest: &Path, links: Vec<Link>) -> Result<(), ExtractError> {
    let mut made: HashMap<PathBuf, PathBuf> = HashMap::new();
    for link in links {
        let hostile = |why| ExtractError::Hostile {
            entry: link.path.display().to_string(),
            why,
        };
        if link.path.ancestors().skip(1).any(|a| made.contains_key(a)) {
            return Err(hostile("inside a symbolic link"));
        }
        if !resolves_inside(&made, &link.path, &link.target) {
            return Err(hostile("link target leaves the layer"));
        }
        let path = dest.join(&link.path);
        if let Some(parent) = path.parent() {
            DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(parent)
                .map_err(|e| io_error(parent, e))?;
        }
        std::os::unix::fs::symlink(&link.target, &path).map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => hostile("a second entry at the same path"),
            _ => io_error(&path, e),
        })?;
        made.insert(link.path, link.target);
    }
    Ok(())
}

/// Whether `target`, written in a link at `link`, stays inside the layer when followed:
/// every component that names a link made earlier is replaced by that link's target (at
/// most 40 times, as the kernel allows), and `..` may never climb above the root.
fn resolves_inside(made: &HashMap<PathBuf, PathBuf>, link: &Path, target: &Path) -> bool {
    let mut at: Vec<&std::ffi::OsStr> = link
        .parent()
        .into_iter()
        .flat_map(Path::components)
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n),
            _ => None,
        })
        .collect();
    let mut pending: Vec<Component> = target.components().rev().collect();
    let mut hops = 0;
    while let Some(c) = pending.pop() {
        match c {
            Component::Normal(name) => {
                at.push(name);
                let here: PathBuf = at.iter().collect();
                if let Some(next) = made.get(&here) {
                    hops += 1;
                    if hops > 40 {
                        return false;
                    }
                    at.pop();
                    pending.extend(next.components().rev());
                }
            }
            Component::CurDir => {}
            Component::ParentDir => {
                if at.pop().is_none() {
                    return false;
                }
            }
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_resolution() {
        let mut made = HashMap::new();
        let inside = |made: &HashMap<PathBuf, PathBuf>, l: &str, t: &str| {
            resolves_inside(made, Path::new(l), Path::new(t))
        };
        assert!(inside(&made, "bin/python3", "python3.11"));
        assert!(inside(&made, "lib/a/b", "../../bin/x"));
        assert!(!inside(&made, "bin/python3", "../../etc"));
        assert!(!inside(&made, "x", "/etc"));
        assert!(!inside(&made, "x", ".."));
        // a/up -> .. is fine by itself; a chain through it that climbs out is not.
        assert!(inside(&made, "a/up", ".."));
        made.insert(PathBuf::from("a/up"), PathBuf::from(".."));
        assert!(!inside(&made, "x", "a/up/../.."));
        assert!(inside(&made, "x", "a/up/a"));
        // A loop gives up rather than spinning.
        made.insert(PathBuf::from("l1"), PathBuf::from("l2"));
        made.insert(PathBuf::from("l2"), PathBuf::from("l1"));
        assert!(!inside(&made, "x", "l1"));
    }

    #[test]
    fn relative_paths() {
        assert_eq!(relative(Path::new("./lib/x")), Some(PathBuf::from("lib/x")));
        assert_eq!(relative(Path::new("lib/../x")), None);
        assert_eq!(relative(Path::new("/etc")), None);
        assert_eq!(relative(Path::new("./")), Some(PathBuf::new()));
    }
}
