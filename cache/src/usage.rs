//! What the cache holds: entries with their size and last use.
//!
//! Last use is the access time the kernel keeps (under the default `relatime`, updated at
//! most daily, and whenever a file is read after it was written): running an entry reads its
//! interpreter and lists its directories, so nothing is written on the warm path to record it.

use std::collections::BTreeMap;
use std::ffi::{CStr, CString, OsStr, OsString};
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::{Bucket, Cache, CacheError};

/// One entry of a bucket: a directory, or files that share a key (`<sha>.tar.zst` and
/// `<sha>.toml`), with the lock file `<key>.lock` beside them.
#[derive(Clone, Debug)]
pub struct Entry {
    pub bucket: Bucket,
    /// The entry's name in its bucket (`run/foo@1.2` in nested buckets).
    pub key: String,
    /// The entry's directory and files, not counting its lock file.
    pub paths: Vec<PathBuf>,
    pub lock: PathBuf,
    pub size: u64,
    pub files: u64,
    pub last_use: SystemTime,
}

/// Suffixes that join files into one entry; a lock file alone is an orphan.
const SUFFIXES: [&str; 4] = [".lock", ".tar.zst", ".toml", ".json"];

impl Cache {
    /// Every entry of every bucket, oldest use first.
    pub fn entries(&self) -> Result<Vec<Entry>, CacheError> {
        let mut out = Vec::new();
        for bucket in Bucket::ALL {
            let dir = self.bucket(bucket);
            if bucket.nested() {
                for sub in list(&dir)? {
                    if sub.is_dir() && !hidden(&sub) {
                        let prefix = format!("{}/", file_name(&sub));
                        collect(bucket, &sub, &prefix, &mut out)?;
                    }
                }
            } else {
                collect(bucket, &dir, "", &mut out)?;
            }
        }
        out.sort_by_key(|e| e.last_use);
        Ok(out)
    }

    /// Leftovers of interrupted writes (`.….tmp`) and lock files with no entry, in every
    /// bucket: `(path, bucket, lock file that guards it)`.
    pub(crate) fn debris(&self) -> Result<Vec<(PathBuf, Bucket, Option<PathBuf>)>, CacheError> {
        let mut out = Vec::new();
        for bucket in Bucket::ALL {
            let dir = self.bucket(bucket);
            let dirs = if bucket.nested() {
                list(&dir)?
                    .into_iter()
                    .filter(|p| p.is_dir() && !hidden(p))
                    .collect()
            } else {
                vec![dir]
            };
            for dir in dirs {
                let items = list(&dir)?;
                for path in &items {
                    let name = file_name(path);
                    if hidden(path) && name.ends_with(".tmp") {
                        // `.<key>.<pid>.tmp`: a work directory, guarded by the key's lock.
                        let lock = bucket
                            .unpacked()
                            .then(|| {
                                name[1..]
                                    .split('.')
                                    .next()
                                    .map(|k| dir.join(format!("{k}.lock")))
                            })
                            .flatten();
                        out.push((path.clone(), bucket, lock));
                    } else if let Some(key) = name.strip_suffix(".lock") {
                        let orphan = !items
                            .iter()
                            .any(|p| p != path && key_of(&file_name(p)) == key);
                        if orphan {
                            out.push((path.clone(), bucket, Some(path.clone())));
                        }
                    }
                }
            }
        }
        Ok(out)
    }
}

fn collect(
    bucket: Bucket,
    dir: &Path,
    prefix: &str,
    out: &mut Vec<Entry>,
) -> Result<(), CacheError> {
    let mut groups: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for path in list(dir)? {
        if hidden(&path) {
            continue;
        }
        let name = file_name(&path);
        let key = key_of(&name).to_owned();
        let paths = groups.entry(key).or_default();
        if !name.ends_with(".lock") {
            paths.push(path);
        }
    }
    for (key, paths) in groups {
        if paths.is_empty() {
            continue;
        }
        let mut usage = Usage {
            // A view's files are mostly links to its units' files, counted there.
            links_counted_elsewhere: bucket == Bucket::Views,
            ..Usage::default()
        };
        for path in &paths {
            usage.add(path, 0).map_err(CacheError::io("read", path))?;
        }
        out.push(Entry {
            bucket,
            lock: dir.join(format!("{key}.lock")),
            key: format!("{prefix}{key}"),
            paths,
            size: usage.size,
            files: usage.files,
            last_use: UNIX_EPOCH + Duration::from_secs(usage.last_use.max(0) as u64),
        });
    }
    Ok(())
}

/// The key a file belongs to: its name without a joining suffix.
fn key_of(name: &str) -> &str {
    SUFFIXES
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .unwrap_or(name)
}

#[derive(Default)]
struct Usage {
    size: u64,
    files: u64,
    last_use: i64,
    /// Files with more than one name are counted by another entry (a unit): only the
    /// entry's own copies count.
    links_counted_elsewhere: bool,
}

impl Usage {
    /// Adds a file or a tree (not following links). Access times count down to depth 2:
    /// deep enough for `bin/python3` and `lib/python3.X`, which every run reads.
    fn add(&mut self, path: &Path, depth: u32) -> io::Result<()> {
        let meta = fs::symlink_metadata(path)?;
        if depth <= 2 {
            self.last_use = self.last_use.max(meta.atime());
        }
        self.files += 1;
        if meta.is_dir() {
            for name in read_dir_noatime(path)? {
                self.add(&path.join(name), depth + 1)?;
            }
        } else if !(self.links_counted_elsewhere && meta.nlink() > 1) {
            self.size += meta.len();
        }
        Ok(())
    }
}

/// The items of a directory, sorted; nothing when it does not exist.
fn list(dir: &Path) -> Result<Vec<PathBuf>, CacheError> {
    let names = match read_dir_noatime(dir) {
        Ok(names) => names,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(CacheError::io("list", dir)(e)),
    };
    let mut out: Vec<_> = names.into_iter().map(|n| dir.join(n)).collect();
    out.sort();
    Ok(out)
}

/// The names in a directory, read without updating its access time (which is what records
/// a use). `O_NOATIME` needs the directory to be ours; otherwise it is read as usual.
pub(crate) fn read_dir_noatime(dir: &Path) -> io::Result<Vec<OsString>> {
    let c = CString::new(dir.as_os_str().as_bytes()).map_err(io::Error::other)?;
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC;
    // SAFETY: a valid C string; the descriptor is handed to fdopendir, which owns it.
    let mut fd = unsafe { libc::open(c.as_ptr(), flags | libc::O_NOATIME) };
    if fd < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EPERM) {
        fd = unsafe { libc::open(c.as_ptr(), flags) };
    }
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is an open directory; on failure we close it ourselves.
    let stream = unsafe { libc::fdopendir(fd) };
    if stream.is_null() {
        let e = io::Error::last_os_error();
        unsafe { libc::close(fd) };
        return Err(e);
    }
    let mut names = Vec::new();
    loop {
        // SAFETY: stream is a valid DIR*; readdir's entry lives until the next call.
        let entry = unsafe { libc::readdir64(stream) };
        if entry.is_null() {
            break;
        }
        let name = unsafe { CStr::from_ptr((*entry).d_name.as_ptr()) }.to_bytes();
        if name != b"." && name != b".." {
            names.push(OsStr::from_bytes(name).to_owned());
        }
    }
    // SAFETY: closes the stream and its descriptor once.
    unsafe { libc::closedir(stream) };
    Ok(names)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

fn hidden(path: &Path) -> bool {
    file_name(path).starts_with('.')
}
