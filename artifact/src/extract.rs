//! Unpacking a layer (`.tar.zst`) into a fresh directory, fast and refusing what a layer
//! must never do.
//!
//! Frames are decoded and written by up to four threads at once. Each file is one
//! `open(O_CREAT|O_EXCL)` with its final mode, one `write` and one `close`: no `chmod`,
//! no `utime`, no `fsync` (the entry is renamed into place only after its hash checked
//! out; see `install`). Refused, with the entry named: absolute paths and `..`, device
//! files, fifos and hard links, a second entry at the same path, links whose target —
//! resolved against every link of the layer, whatever their order, so `a/up/../..` with
//! `a/up -> ..` counts — leaves the layer, anything inside a link, and more bytes or
//! entries than the trailer declares. Links are checked as a set and made last, so no
//! file is ever written through one.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fs::{DirBuilder, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::{frames, side_by_side};

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
    #[error("cannot write {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The units were unpacked, but their view could not be assembled.
    #[error(transparent)]
    View(#[from] crate::view::ViewError),
}

/// A frame that does not split or decode is a damaged layer, or one too big.
impl From<frames::FrameError> for ExtractError {
    fn from(e: frames::FrameError) -> ExtractError {
        match e {
            frames::FrameError::Damaged(why) => ExtractError::Format(why),
            frames::FrameError::TooBig { limit } => ExtractError::TooBig {
                what: "bytes",
                limit,
            },
        }
    }
}

/// A link to make once every file is written; `order` is its place in the archive.
struct Link {
    order: (usize, usize),
    path: PathBuf,
    target: PathBuf,
}

/// What an entry is, for the checks made once every entry is known.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Seen {
    Dir,
    File,
    Link,
}

/// Shared by the threads walking one layer.
struct Job<'a> {
    frames: Vec<&'a [u8]>,
    /// Where entries are written; `None` checks them only (`pyk inspect`).
    dest: Option<&'a Path>,
    limits: Limits,
    /// Tar bytes the frames may still decode to: file data plus generous room for headers.
    decode_budget: AtomicU64,
    next: AtomicUsize,
    size: AtomicU64,
    files: AtomicU64,
    failed: AtomicBool,
    error: Mutex<Option<ExtractError>>,
    seen: Mutex<HashMap<PathBuf, Seen>>,
    links: Mutex<Vec<Link>>,
}

/// Most threads that write at once: beyond this, the filesystem, not the CPU, is the limit.
const MAX_THREADS: usize = 4;

/// Bytes of file data copied at a time: what one thread holds of a file, however large.
const CHUNK: usize = 256 << 10;

/// Tar bytes that are not file data (headers, long names, pax records) one entry may
/// take: the tar reader keeps long names and pax records in memory.
const MAX_METADATA: u64 = 1 << 20;

/// Unpacks `layer` into `dest`, an existing empty directory.
pub fn extract(layer: &[u8], dest: &Path, limits: Limits) -> Result<Unpacked, ExtractError> {
    walk(layer, Some(dest), limits)
}

/// Checks `layer` entry by entry as [`extract`] does, writing nothing: what extraction
/// would refuse, this refuses with the same error.
pub fn check(layer: &[u8], limits: Limits) -> Result<Unpacked, ExtractError> {
    walk(layer, None, limits)
}

/// What a layer unpacks to, found by decoding it without writing anything. For layers
/// whose writer did not record it.
pub fn measure(layer: &[u8]) -> Result<Unpacked, ExtractError> {
    check(
        layer,
        Limits {
            size: u64::MAX,
            files: u64::MAX,
        },
    )
}

/// The bytes of the file at `name` in `layer` (the first entry of that path), if there is
/// one; a file of more than `max` bytes is refused, and the frames are decoded as a stream
/// within `limits`, as extraction decodes them. For `pyk info FILE`, which reads the API
/// tree out of an app layer without unpacking it.
pub fn read_file(
    layer: &[u8],
    limits: Limits,
    name: &Path,
    max: u64,
) -> Result<Option<Vec<u8>>, ExtractError> {
    let budget = AtomicU64::new(decode_budget(limits));
    let mut found = None;
    for frame in frames::split(layer)? {
        each_entry(frame, &budget, limits.size, |_, mut entry, stream| {
            let path = entry.path().map_err(format)?;
            if relative(&path).as_deref() != Some(name) {
                // Passed over as file data, not as the tar reader's own.
                stream
                    .data(|| io::copy(&mut entry, &mut io::sink()))
                    .map_err(format)?;
                return Ok(true);
            }
            let kind = entry.header().entry_type();
            if !(kind.is_file() || kind.is_contiguous()) {
                return Ok(false);
            }
            if entry.size() > max {
                return Err(ExtractError::TooBig {
                    what: "bytes",
                    limit: max,
                });
            }
            let mut bytes = Vec::new();
            stream
                .data(|| entry.read_to_end(&mut bytes))
                .map_err(format)?;
            found = Some(bytes);
            Ok(false)
        })?;
        if found.is_some() {
            break;
        }
    }
    Ok(found)
}

/// The paths of every entry of `layer`, in order, decoded as a stream within `limits`
/// without writing anything: what a runtime layer shaken for an app still holds, for the
/// app's SBOM.
pub fn paths(layer: &[u8], limits: Limits) -> Result<Vec<PathBuf>, ExtractError> {
    let budget = AtomicU64::new(decode_budget(limits));
    let mut out = Vec::new();
    for frame in frames::split(layer)? {
        each_entry(frame, &budget, limits.size, |_, mut entry, stream| {
            if let Some(path) = relative(&entry.path().map_err(format)?) {
                out.push(path);
            }
            stream
                .data(|| io::copy(&mut entry, &mut io::sink()))
                .map_err(format)?;
            Ok(true)
        })?;
    }
    Ok(out)
}

/// Tar bytes a layer may decode to: its file data plus generous room for headers.
fn decode_budget(limits: Limits) -> u64 {
    limits
        .size
        .saturating_add(limits.files.saturating_mul(3 * 512))
        .saturating_add(1 << 20)
}

fn walk(layer: &[u8], dest: Option<&Path>, limits: Limits) -> Result<Unpacked, ExtractError> {
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
        decode_budget: AtomicU64::new(decode_budget(limits)),
        next: AtomicUsize::new(0),
        size: AtomicU64::new(0),
        files: AtomicU64::new(0),
        failed: AtomicBool::new(false),
        error: Mutex::new(None),
        seen: Mutex::new(HashMap::new()),
        links: Mutex::new(Vec::new()),
    };
    side_by_side::run(threads, || job.work());
    if let Some(e) = job.error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let seen = job.seen.into_inner().unwrap_or_else(|p| p.into_inner());
    check_nesting(&seen)?;
    let mut links = job.links.into_inner().unwrap_or_else(|p| p.into_inner());
    links.sort_by_key(|l| l.order);
    check_links(links.iter().map(|l| (l.path.as_path(), l.target.as_path())))?;
    if let Some(dest) = dest {
        make_links(dest, links)?;
    }
    Ok(Unpacked {
        size: job.size.into_inner(),
        files: job.files.into_inner(),
    })
}

/// No entry may lie under a file or a link (a file under a link would be written through
/// it).
fn check_nesting(seen: &HashMap<PathBuf, Seen>) -> Result<(), ExtractError> {
    for path in seen.keys() {
        for parent in path.ancestors().skip(1) {
            match seen.get(parent) {
                Some(Seen::Link) => return Err(hostile_link(path, "inside a symbolic link")),
                Some(Seen::File) => return Err(hostile_link(path, "inside a file")),
                _ => {}
            }
        }
    }
    Ok(())
}

/// The decoded tar stream of one frame, metering what the tar reader takes for itself:
/// it reads long names and pax records whole into memory, so outside of file data (read
/// in [`Metered::data`] mode) each entry may take at most [`MAX_METADATA`] bytes.
struct Metered<'a> {
    decoder: RefCell<frames::Decoder<'a>>,
    /// Metadata bytes the current entry may still take.
    left: Cell<u64>,
    data: Cell<bool>,
}

impl Metered<'_> {
    /// Runs `read` (which reads one entry's file data) outside the metadata allowance.
    fn data<T>(&self, read: impl FnOnce() -> T) -> T {
        self.data.set(true);
        let out = read();
        self.data.set(false);
        out
    }
}

/// Calls `each` on every entry of one frame, decoded as a stream, with the entry's
/// index in the frame, until it returns `false`.
fn each_entry(
    frame: &[u8],
    budget: &AtomicU64,
    limit: u64,
    mut each: impl FnMut(usize, tar::Entry<&Metered>, &Metered) -> Result<bool, ExtractError>,
) -> Result<(), ExtractError> {
    let stream = Metered {
        decoder: RefCell::new(frames::Decoder::new(frame, budget, limit)?),
        left: Cell::new(MAX_METADATA),
        data: Cell::new(false),
    };
    let mut archive = tar::Archive::new(&stream);
    for (n, entry) in archive.entries().map_err(format)?.enumerate() {
        // A new entry was reached: its metadata allowance starts over.
        stream.left.set(MAX_METADATA);
        if !each(n, entry.map_err(format)?, &stream)? {
            break;
        }
    }
    Ok(())
}

impl Read for &Metered<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.decoder.borrow_mut().read(buf)?;
        if !self.data.get() {
            let left = self.left.get().checked_sub(n as u64).ok_or_else(|| {
                io::Error::other(ExtractError::Format(format!(
                    "more than {MAX_METADATA} bytes of tar headers for one entry"
                )))
            })?;
            self.left.set(left);
        }
        Ok(n)
    }
}

/// An I/O error from decoding: the extraction error inside it if there is one (the budget,
/// a damaged frame), else a damaged archive.
fn format(e: io::Error) -> ExtractError {
    let ours = |inner: &(dyn std::error::Error + Send + Sync + 'static)| {
        inner.is::<ExtractError>() || inner.is::<frames::FrameError>()
    };
    if !e.get_ref().is_some_and(ours) {
        return ExtractError::Format(e.to_string());
    }
    let Some(inner) = e.into_inner() else {
        return ExtractError::Format("damaged layer".into());
    };
    match inner.downcast::<ExtractError>() {
        Ok(inner) => *inner,
        Err(other) => match other.downcast::<frames::FrameError>() {
            Ok(frame) => (*frame).into(),
            Err(other) => ExtractError::Format(other.to_string()),
        },
    }
}

impl Job<'_> {
    fn work(&self) {
        let mut buf = vec![0u8; CHUNK];
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

    fn frame(&self, index: usize, frame: &[u8], buf: &mut [u8]) -> Result<(), ExtractError> {
        each_entry(
            frame,
            &self.decode_budget,
            self.limits.size,
            |n, entry, stream| {
                if self.failed.load(Ordering::Relaxed) {
                    return Ok(false);
                }
                self.entry(index, n, entry, stream, buf)?;
                Ok(true)
            },
        )
    }

    fn entry(
        &self,
        index: usize,
        n: usize,
        mut entry: tar::Entry<&Metered>,
        stream: &Metered,
        buf: &mut [u8],
    ) -> Result<(), ExtractError> {
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() {
            return Ok(());
        }
        let raw = entry.path().map_err(format)?.into_owned();
        let shown = raw.display().to_string();
        let hostile = |why| ExtractError::Hostile {
            entry: shown.clone(),
            why,
        };
        let rel = relative(&raw).ok_or_else(|| hostile("path leaves the layer"))?;
        if rel.as_os_str().is_empty() {
            // `./`, the layer's own root.
            if kind.is_dir() {
                return Ok(());
            }
            return Err(hostile("not a directory"));
        }
        if self.files.fetch_add(1, Ordering::Relaxed) >= self.limits.files {
            return Err(ExtractError::TooBig {
                what: "entries",
                limit: self.limits.files,
            });
        }
        let seen = if kind.is_dir() {
            Seen::Dir
        } else if kind.is_file() || kind.is_contiguous() {
            Seen::File
        } else if kind.is_symlink() {
            Seen::Link
        } else {
            return Err(hostile("not a file, directory or symbolic link"));
        };
        self.see(&rel, seen).map_err(hostile)?;
        let path = self.dest.map(|d| d.join(&rel));
        match seen {
            Seen::Dir => {
                if let Some(path) = &path {
                    DirBuilder::new()
                        .recursive(true)
                        .mode(0o755)
                        .create(path)
                        .map_err(|source| io_error(path, source))?;
                }
            }
            Seen::File => {
                let size = entry.size();
                let total = self.size.fetch_add(size, Ordering::Relaxed) + size;
                if total > self.limits.size {
                    return Err(ExtractError::TooBig {
                        what: "bytes",
                        limit: self.limits.size,
                    });
                }
                let exec = entry.header().mode().map_err(format)? & 0o111 != 0;
                let copied = stream.data(|| match &path {
                    Some(path) => {
                        write_file(path, &mut entry, buf, exec).map_err(|e| match e.kind() {
                            io::ErrorKind::AlreadyExists => {
                                hostile("a second entry at the same path")
                            }
                            _ if e.get_ref().is_some() => format(e),
                            _ => io_error(path, e),
                        })
                    }
                    None => copy(&mut entry, buf, |_| Ok(())).map_err(format),
                })?;
                if copied != size {
                    return Err(ExtractError::Format(format!("{shown}: truncated")));
                }
            }
            Seen::Link => {
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
            }
        }
        Ok(())
    }

    /// Records an entry at `rel`; a directory may be named twice, nothing else, and
    /// nothing may lie under a file or a link seen before it (the other order is caught
    /// once every entry is known, by [`check_nesting`]).
    fn see(&self, rel: &Path, kind: Seen) -> Result<(), &'static str> {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        for parent in rel.ancestors().skip(1) {
            match seen.get(parent) {
                Some(Seen::Link) => return Err("inside a symbolic link"),
                Some(Seen::File) => return Err("inside a file"),
                _ => {}
            }
        }
        match seen.insert(rel.to_path_buf(), kind) {
            None => Ok(()),
            Some(Seen::Dir) if kind == Seen::Dir => Ok(()),
            Some(_) => Err("a second entry at the same path"),
        }
    }
}

fn io_error(path: &Path, source: io::Error) -> ExtractError {
    ExtractError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads `from` to its end through `buf`, handing each piece to `to`; the bytes read.
fn copy(
    from: &mut impl Read,
    buf: &mut [u8],
    mut to: impl FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<u64> {
    let mut total = 0;
    loop {
        match from.read(buf) {
            Ok(0) => return Ok(total),
            Ok(n) => {
                to(&buf[..n])?;
                total += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// One open, a write per [`CHUNK`] (one for most files), one close. The parent is made
/// when its own entry has not been reached yet (another thread may be on it).
fn write_file(path: &Path, data: &mut impl Read, buf: &mut [u8], exec: bool) -> io::Result<u64> {
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
    copy(data, buf, |piece| file.write_all(piece))
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

/// Makes the layer's links, once [`check_links`] passed them all.
fn make_links(dest: &Path, links: Vec<Link>) -> Result<(), ExtractError> {
    for link in links {
        let path = dest.join(&link.path);
        if let Some(parent) = path.parent() {
            DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(parent)
                .map_err(|e| io_error(parent, e))?;
        }
        std::os::unix::fs::symlink(&link.target, &path).map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => ExtractError::Hostile {
                entry: link.path.display().to_string(),
                why: "a second entry at the same path",
            },
            _ => io_error(&path, e),
        })?;
    }
    Ok(())
}

/// Refuses a layer whose links, taken together, reach outside it: a link at `(path,
/// target)` inside another link, two links at one path, or a target that leaves the layer
/// when every link on its way is followed, whatever the order of the links. A later link
/// can change what an earlier target means (`x -> a/up/../..`, then `a/up -> ..`).
fn check_links<'a>(
    links: impl IntoIterator<Item = (&'a Path, &'a Path)> + Clone,
) -> Result<(), ExtractError> {
    let mut all: HashMap<PathBuf, PathBuf> = HashMap::new();
    for (path, target) in links.clone() {
        if all
            .insert(path.to_path_buf(), target.to_path_buf())
            .is_some()
        {
            return Err(hostile_link(path, "a second entry at the same path"));
        }
    }
    for (path, target) in links {
        if path.ancestors().skip(1).any(|a| all.contains_key(a)) {
            return Err(hostile_link(path, "inside a symbolic link"));
        }
        if !resolves_inside(&all, path, target) {
            return Err(hostile_link(path, "link target leaves the layer"));
        }
    }
    Ok(())
}

fn hostile_link(path: &Path, why: &'static str) -> ExtractError {
    ExtractError::Hostile {
        entry: path.display().to_string(),
        why,
    }
}

/// Whether `target`, written in a link at `link`, stays inside the layer when followed:
/// every component that names a link of the layer is replaced by that link's target (at
/// most 40 times, as the kernel allows), and `..` may never climb above the root.
fn resolves_inside(links: &HashMap<PathBuf, PathBuf>, link: &Path, target: &Path) -> bool {
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
                if let Some(next) = links.get(&here) {
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
    fn links_are_checked_as_a_set() {
        let check = |links: &[(&str, &str)]| {
            check_links(links.iter().map(|(l, t)| (Path::new(*l), Path::new(*t))))
        };
        assert!(check(&[("a/up", ".."), ("x", "a/up/a")]).is_ok());
        // Either order: the later link changes what the earlier target means.
        for links in [
            [("x", "a/up/../.."), ("a/up", "..")],
            [("a/up", ".."), ("x", "a/up/../..")],
        ] {
            let err = check(&links).unwrap_err();
            assert!(
                err.to_string().contains("\"x\": link target leaves"),
                "{err}"
            );
        }
        // A deeper chain, made in reverse: on paper x climbs nine levels from nine deep
        // and `u` eight from eight deep; followed, `u` is the root and x nine levels above
        // it, `/` from any cache.
        let deep = "a/b/c/d/e/f/g/h";
        let x = format!("{deep}/u/{}", "../".repeat(9));
        let u = format!("{deep}/u");
        let err = check(&[("x", x.as_str()), (u.as_str(), "../../../../../../../..")]).unwrap_err();
        assert!(
            err.to_string().contains("\"x\": link target leaves"),
            "{err}"
        );
    }

    #[test]
    fn relative_paths() {
        assert_eq!(relative(Path::new("./lib/x")), Some(PathBuf::from("lib/x")));
        assert_eq!(relative(Path::new("lib/../x")), None);
        assert_eq!(relative(Path::new("/etc")), None);
        assert_eq!(relative(Path::new("./")), Some(PathBuf::new()));
    }
}
