//! The one way pyk puts things in place: fill beside the target, then rename.
//!
//! Files: a temp file beside the target is filled, synced and CLOSED, then renamed over the
//! target (or, for content-named files, next to it without ever replacing it), then the
//! directory is synced so the rename survives a crash. A reader sees the old file or the new
//! one, never a part; an executable being renamed is never open for writing (no ETXTBSY).
//!
//! Directories: under `LOCK_EX` on `<key>.lock`, if `<key>/` is there the work is done;
//! otherwise stale work directories of killed fillers are removed, a fresh
//! `.<key>.<pid>.tmp/` (mode 0700) is filled and verified by the caller, made readable and
//! renamed into place, and the bucket directory is synced.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::lock::EntryLock;
use crate::{lock_path, CacheError};

/// What happens when the target file already exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Existing {
    /// Replace it (manifests, launchers, a rebuilt artifact).
    Replace,
    /// Keep it: the file is named by its content, so the one there is as good as ours, and
    /// replacing it could pull it from under a process that is starting it.
    Keep,
}

/// Writes `path` through a temp file beside it (see the module doc). Returns whether this
/// call put the file in place (`false`: `Existing::Keep` found one there).
pub fn write_file(
    path: &Path,
    mode: u32,
    existing: Existing,
    fill: impl FnOnce(&mut File) -> io::Result<()>,
) -> Result<bool, CacheError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir).map_err(CacheError::io("create", dir))?;
    let (tmp, mut file) = temp_beside(path)?;
    let filled = fill(&mut file)
        .and_then(|()| file.set_permissions(fs::Permissions::from_mode(mode)))
        .and_then(|()| file.sync_all());
    // Closed before the rename: nothing may hold a write descriptor on a file that others
    // may exec as soon as it appears.
    drop(file);
    let placed = filled
        .map_err(CacheError::io("write", path))
        .and_then(|()| rename(&tmp, path, existing));
    if !matches!(placed, Ok(true)) {
        let _ = fs::remove_file(&tmp);
    }
    let placed = placed?;
    if placed {
        sync_dir(dir)?;
        tracing::debug!("cache: wrote {}", path.display());
    }
    Ok(placed)
}

/// [`write_file`] for a file named by its content, whose name is known only once it is
/// written (a layer named by its sha256): `fill` writes it and returns its name in `dir`.
/// The file is never replaced; returns its path and whether this call put it there.
pub fn write_named(
    dir: &Path,
    mode: u32,
    fill: impl FnOnce(&mut File) -> io::Result<String>,
) -> Result<(PathBuf, bool), CacheError> {
    fs::create_dir_all(dir).map_err(CacheError::io("create", dir))?;
    let (tmp, mut file) = temp_beside(&dir.join("named"))?;
    let filled = fill(&mut file).and_then(|name| {
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.sync_all()?;
        Ok(name)
    });
    drop(file);
    let placed = filled
        .map_err(CacheError::io("write in", dir))
        .and_then(|name| {
            let path = dir.join(name);
            rename(&tmp, &path, Existing::Keep).map(|placed| (path, placed))
        });
    if !matches!(placed, Ok((_, true))) {
        let _ = fs::remove_file(&tmp);
    }
    let placed = placed?;
    if placed.1 {
        sync_dir(dir)?;
        tracing::debug!("cache: wrote {}", placed.0.display());
    }
    Ok(placed)
}

/// A new, empty temp file `.<name>.<pid>.<n>.tmp` in the target's directory.
fn temp_beside(path: &Path) -> Result<(PathBuf, File), CacheError> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = path.with_file_name(format!(".{name}.{}.{n}.tmp", std::process::id()));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
        {
            Ok(file) => return Ok((tmp, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(CacheError::io("write in", path.parent().unwrap_or(path))(e)),
        }
    }
}

fn rename(tmp: &Path, path: &Path, existing: Existing) -> Result<bool, CacheError> {
    let failed = CacheError::io("write", path);
    match existing {
        Existing::Replace => fs::rename(tmp, path).map(|()| true).map_err(failed),
        Existing::Keep => match rename_noreplace(tmp, path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(failed(e)),
        },
    }
}

/// `renameat2(RENAME_NOREPLACE)`; where the filesystem or kernel lacks it, a hard link
/// (which also fails when the target exists) and an unlink. Called as a raw system call:
/// glibc has had a `renameat2` wrapper only since 2.28, and pyk runs on glibc 2.17.
fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    let c = |p: &Path| std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(io::Error::other);
    let (cfrom, cto) = (c(from)?, c(to)?);
    // SAFETY: two valid C strings, relative to the current directory.
    let r = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            cfrom.as_ptr(),
            libc::AT_FDCWD,
            cto.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if r == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    if !matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) {
        return Err(e);
    }
    fs::hard_link(from, to)?;
    fs::remove_file(from)
}

/// Makes renames in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), CacheError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(CacheError::io("sync", dir))
}

/// Why filling a directory entry failed: the cache, or the caller's own work.
#[derive(Debug)]
pub enum FillError<E> {
    Cache(CacheError),
    Fill(E),
}

impl<E: std::fmt::Display> std::fmt::Display for FillError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FillError::Cache(e) => e.fmt(f),
            FillError::Fill(e) => e.fmt(f),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for FillError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FillError::Cache(e) => Some(e),
            FillError::Fill(e) => Some(e),
        }
    }
}

/// Fills `<bucket_dir>/<key>/` exactly once across processes (see the module doc) and
/// returns a shared lock on it, to be held while the entry is used. `fill` gets an empty
/// work directory and must leave it complete and verified; on error nothing is kept.
pub fn fill_dir<E>(
    bucket_dir: &Path,
    key: &str,
    fill: impl FnOnce(&Path) -> Result<(), E>,
) -> Result<EntryLock, FillError<E>> {
    let cache = |e| FillError::Cache(e);
    fs::create_dir_all(bucket_dir)
        .map_err(CacheError::io("create", bucket_dir))
        .map_err(cache)?;
    let lock_file = lock_path(bucket_dir, key);
    let target = bucket_dir.join(key);
    let locked = |e| cache(CacheError::io("lock", &lock_file)(e));
    // `LOCK_EX` is only ever tried, never waited for: it waits for every program running
    // from the entry, and one of them may itself wait, for an entry this process holds.
    // With units, processes fill entries in different orders, and that is a cycle. What a
    // filler waits for is another filler: a shared lock comes once none is filling.
    let lock = loop {
        if let Some(lock) = EntryLock::try_exclusive(&lock_file).map_err(locked)? {
            break lock;
        }
        if let Some(shared) = EntryLock::shared(&lock_file).map_err(locked)? {
            if target.is_dir() {
                tracing::debug!("cache: using {}, filled meanwhile", target.display());
                return Ok(shared);
            }
        }
        // The other filler failed, or it was removed: fill it here.
    };
    if target.is_dir() {
        tracing::debug!("cache: using {}, filled meanwhile", target.display());
    } else {
        tracing::debug!("cache: filling {}", target.display());
        let started = std::time::Instant::now();
        remove_stale_work(bucket_dir, key);
        let work = bucket_dir.join(format!(".{key}.{}.tmp", std::process::id()));
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&work)
            .map_err(CacheError::io("create", &work))
            .map_err(cache)?;
        let placed = fill(&work).map_err(FillError::Fill).and_then(|()| {
            fs::set_permissions(&work, fs::Permissions::from_mode(0o755))
                .and_then(|()| fs::rename(&work, &target))
                .map_err(CacheError::io("move into place", &target))
                .map_err(cache)
        });
        if let Err(e) = placed {
            let _ = fs::remove_dir_all(&work);
            return Err(e);
        }
        sync_dir(bucket_dir).map_err(cache)?;
        tracing::debug!(
            "cache: filled {} in {:.1?}",
            target.display(),
            started.elapsed()
        );
    }
    lock.downgrade()
        .map_err(CacheError::io("lock", &lock_file))
        .map_err(cache)?;
    Ok(lock)
}

/// Work directories of killed fillers of `key`. Only called under the entry's exclusive
/// lock, so none belongs to a live process.
fn remove_stale_work(bucket_dir: &Path, key: &str) {
    let prefix = format!(".{key}.");
    let Ok(entries) = fs::read_dir(bucket_dir) else {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn content_named_files_are_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sha");
        let put = |text: &'static str, existing| {
            write_file(&path, 0o644, existing, |f| {
                io::Write::write_all(f, text.as_bytes())
            })
            .unwrap()
        };
        assert!(put("first", Existing::Keep));
        assert!(!put("second", Existing::Keep));
        assert_eq!(fs::read_to_string(&path).unwrap(), "first");
        assert!(put("third", Existing::Replace));
        assert_eq!(fs::read_to_string(&path).unwrap(), "third");
        // No temp file left behind either way.
        assert_eq!(names(dir.path()), ["sha"]);
    }

    #[test]
    fn named_by_content_once_written() {
        let dir = tempfile::tempdir().unwrap();
        let put = |text: &'static str| {
            write_named(dir.path(), 0o644, |f| {
                io::Write::write_all(f, text.as_bytes())?;
                Ok(format!("{}.txt", text.len()))
            })
            .unwrap()
        };
        let (path, placed) = put("abc");
        assert!(placed && path.ends_with("3.txt"));
        assert!(!put("xyz").1, "a content-named file is never replaced");
        assert_eq!(fs::read_to_string(&path).unwrap(), "abc");
        assert_eq!(names(dir.path()), ["3.txt"]);
    }

    #[test]
    fn a_failed_fill_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x");
        let err = write_file(&path, 0o644, Existing::Replace, |_| {
            Err(io::Error::other("boom"))
        });
        let err = err.unwrap_err();
        let cause = std::error::Error::source(&err).map(ToString::to_string);
        assert_eq!(cause.as_deref(), Some("boom"), "{err}");
        assert!(names(dir.path()).is_empty());
        let bucket = dir.path().join("b");
        let r: Result<_, FillError<&str>> = fill_dir(&bucket, "k", |work| {
            fs::write(work.join("half"), "x").unwrap();
            Err("verification failed")
        });
        assert!(matches!(r, Err(FillError::Fill("verification failed"))));
        assert_eq!(names(&bucket), ["k.lock"]);
    }

    #[test]
    fn a_fill_never_waits_for_programs_running_from_the_entry() {
        let dir = tempfile::tempdir().unwrap();
        let bucket = dir.path().join("b");
        let running = fill_dir::<()>(&bucket, "k", |w| fs::write(w.join("f"), "x").map_err(drop));
        let running = running.unwrap();
        // Another filler of the same entry, while a program holds it: it must not wait for
        // that program (which may be waiting for an entry this one holds).
        let (tx, rx) = std::sync::mpsc::channel();
        let b = bucket.clone();
        std::thread::spawn(move || {
            let held = fill_dir::<()>(&b, "k", |_| panic!("filled twice"));
            tx.send(held.is_ok()).unwrap();
        });
        let done = rx.recv_timeout(std::time::Duration::from_secs(10));
        assert_eq!(done, Ok(true), "the second fill waited for the holder");
        drop(running);
    }

    #[test]
    fn directories_fill_once_and_stale_work_is_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let bucket = dir.path().join("b");
        fs::create_dir_all(bucket.join(".k.999999.tmp/junk")).unwrap();
        let mut calls = 0;
        for _ in 0..2 {
            let lock = fill_dir::<()>(&bucket, "k", |work| {
                calls += 1;
                let mode = fs::metadata(work).unwrap().permissions().mode();
                assert_eq!(mode & 0o777, 0o700, "work dirs are private while filled");
                fs::write(work.join("f"), "data").map_err(drop)
            })
            .unwrap();
            drop(lock);
        }
        assert_eq!(calls, 1);
        assert_eq!(names(&bucket), ["k", "k.lock"]);
        assert_eq!(fs::read_to_string(bucket.join("k/f")).unwrap(), "data");
    }
}
