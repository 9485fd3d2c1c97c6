use std::io;
use std::path::PathBuf;

/// Why the cache could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// A root another user owns or can write to: they could plant code that would run.
    #[error("refusing cache directory {}: {why}; set PYK_CACHE_DIR to a directory of your own", path.display())]
    NotPrivate { path: PathBuf, why: &'static str },
    /// A shared cache someone other than root (or this user) could write to.
    #[error("not using shared cache {}: {why}", path.display())]
    SharedRefused { path: PathBuf, why: &'static str },
    /// A root that cannot be created or written (read-only home, no such parent…).
    #[error("cache directory {} is not usable", path.display())]
    Unusable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A root on a `noexec` mount: what is unpacked there could not run.
    #[error("cache directory {} is on {}, which is mounted noexec: programs cannot run from it; set PYK_CACHE_DIR to a directory on a mount that allows them", path.display(), mount.display())]
    NoExec { path: PathBuf, mount: PathBuf },
    /// Reading or writing inside the cache failed.
    #[error("cannot {action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl CacheError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> CacheError {
        let path = path.into();
        move |source| CacheError::Io {
            action,
            path,
            source,
        }
    }

    /// Whether another root might work where this one did not (read-only, full, foreign).
    pub fn root_unusable(&self) -> bool {
        match self {
            CacheError::NotPrivate { .. }
            | CacheError::Unusable { .. }
            | CacheError::SharedRefused { .. } => true,
            // Another root may be on another mount, but moving there silently would
            // leave the user wondering where their cache went: say so instead.
            CacheError::NoExec { .. } => false,
            CacheError::Io { source, .. } => matches!(
                source.raw_os_error(),
                Some(libc::EACCES | libc::EPERM | libc::EROFS | libc::ENOSPC | libc::EDQUOT)
            ),
        }
    }
}
