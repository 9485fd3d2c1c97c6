//! Entry locks: `flock` on `<bucket>/<key>.lock`.
//!
//! A process that runs from an entry holds `LOCK_SH` for its lifetime, through exec (the
//! descriptor is inherited), so `prune` and `clean`, which need `LOCK_EX`, skip it. Filling
//! an entry takes `LOCK_EX` when no one holds it, so one process extracts and the others
//! wait for it with `LOCK_SH`.
//!
//! Removal deletes the lock file while holding it. A process that opened the old file just
//! before would then lock a file no one else can find; so every lock, once taken, checks
//! that the path still names the file it locked, and starts again if not.
//!
//! A lock is tried first, so that a wait for another process is logged with its length.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

/// A held lock on an entry; released when dropped (or when the process, and every process
/// it exec'd into, ends).
#[derive(Debug)]
pub struct EntryLock {
    file: File,
}

#[derive(Clone, Copy)]
enum Mode {
    Shared,
    Exclusive,
}

impl EntryLock {
    /// `LOCK_SH` on an existing lock file, waiting for an extraction in progress; `None`
    /// when there is no lock file (so no entry). Opens read-only and creates nothing, so it
    /// works on a read-only cache.
    pub fn shared(path: &Path) -> io::Result<Option<EntryLock>> {
        acquire(path, Mode::Shared, false, true)
    }

    /// `LOCK_EX`, creating the lock file if needed, waiting for holders to go (tests only:
    /// filling an entry never waits for `LOCK_EX`, see `fill_dir`).
    #[cfg(test)]
    pub(crate) fn exclusive(path: &Path) -> io::Result<EntryLock> {
        acquire(path, Mode::Exclusive, true, true)?.ok_or_else(|| io::ErrorKind::NotFound.into())
    }

    /// `LOCK_EX` if no one holds the entry; `None` if someone does.
    pub(crate) fn try_exclusive(path: &Path) -> io::Result<Option<EntryLock>> {
        acquire(path, Mode::Exclusive, true, false)
    }

    /// Whether someone holds a lock on the file (without creating it or waiting).
    pub(crate) fn is_held(path: &Path) -> bool {
        File::open(path).is_ok_and(|f| matches!(f.try_lock(), Err(TryLockError::WouldBlock)))
    }

    /// Turns an exclusive lock into a shared one, for the process that just filled the
    /// entry and now runs from it.
    pub(crate) fn downgrade(&self) -> io::Result<()> {
        self.file.lock_shared()
    }

    /// Lets the lock outlive an exec: the descriptor stays open in the new program.
    pub fn keep_across_exec(&self) -> io::Result<()> {
        let fd = self.file.as_raw_fd();
        // SAFETY: F_GETFD/F_SETFD on a descriptor this struct owns.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

fn acquire(path: &Path, mode: Mode, create: bool, wait: bool) -> io::Result<Option<EntryLock>> {
    loop {
        let mut options = OpenOptions::new();
        if create {
            // Readable by all: users of a shared cache take `LOCK_SH` on its lock files.
            // A private root's mode keeps its own from everyone else.
            options.read(true).write(true).create(true).mode(0o644);
        } else {
            options.read(true);
        }
        let file = match options.open(path) {
            Ok(file) => file,
            Err(e) if !create && e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let locked = match mode {
            Mode::Shared => try_lock(file.try_lock_shared()),
            Mode::Exclusive => try_lock(file.try_lock()),
        }?;
        let locked = locked || (wait && wait_for(&file, path, mode)?);
        if !locked {
            return Ok(None);
        }
        // The file we locked must still be the one the path names (see the module doc).
        let held = file.metadata()?;
        match std::fs::metadata(path) {
            Ok(now) if now.ino() == held.ino() && now.dev() == held.dev() => {
                return Ok(Some(EntryLock { file }))
            }
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::NotFound && create => continue,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        }
    }
}

/// Waits for a lock someone else holds, saying so (`pyk -v`): a process filling the entry
/// (for a shared lock), or running from it or removing it (for an exclusive one).
fn wait_for(file: &File, path: &Path, mode: Mode) -> io::Result<bool> {
    tracing::debug!("cache: waiting for the lock on {}", path.display());
    let started = std::time::Instant::now();
    match mode {
        Mode::Shared => file.lock_shared(),
        Mode::Exclusive => file.lock(),
    }?;
    tracing::debug!(
        "cache: waited {:.1?} for the lock on {}",
        started.elapsed(),
        path.display()
    );
    Ok(true)
}

fn try_lock(result: Result<(), TryLockError>) -> io::Result<bool> {
    match result {
        Ok(()) => Ok(true),
        Err(TryLockError::WouldBlock) => Ok(false),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_holders_keep_exclusive_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.lock");
        assert!(EntryLock::shared(&path).unwrap().is_none());
        let ex = EntryLock::exclusive(&path).unwrap();
        ex.downgrade().unwrap();
        let sh = EntryLock::shared(&path).unwrap().unwrap();
        assert!(EntryLock::try_exclusive(&path).unwrap().is_none());
        drop(ex);
        assert!(EntryLock::try_exclusive(&path).unwrap().is_none());
        drop(sh);
        assert!(EntryLock::try_exclusive(&path).unwrap().is_some());
    }

    #[test]
    fn a_lock_file_removed_under_a_waiter_is_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.lock");
        let ex = EntryLock::exclusive(&path).unwrap();
        let old = File::open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        drop(ex);
        // A new lock makes a new file, not the orphan the old descriptor holds.
        let again = EntryLock::exclusive(&path).unwrap();
        assert_ne!(
            again.file.metadata().unwrap().ino(),
            old.metadata().unwrap().ino()
        );
        drop(again);
        assert!(EntryLock::shared(&path).unwrap().is_some());
    }
}
