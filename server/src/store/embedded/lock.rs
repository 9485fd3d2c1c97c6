//! One server per store directory: two would each clear the other's uploads in progress
//! from `tmp/`.

use std::fs::{File, TryLockError};
use std::path::Path;

use crate::store::{Result, StoreError};

/// Held open for its exclusive lock, released when dropped (or when the process dies).
pub struct ProcessLock {
    _file: File,
}

impl ProcessLock {
    /// Takes the lock on `root/lock`, or fails at once if another process holds it.
    pub fn take(root: &Path) -> Result<ProcessLock> {
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(root.join("lock"))?;
        match file.try_lock() {
            Ok(()) => Ok(ProcessLock { _file: file }),
            Err(TryLockError::WouldBlock) => Err(StoreError::InUse(root.to_owned())),
            Err(TryLockError::Error(e)) => Err(e.into()),
        }
    }
}
