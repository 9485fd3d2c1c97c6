use std::io;
use std::path::PathBuf;

/// Why the cache could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// A root another user owns or can write to: they could plant code that would run.
    #[error("refusing cache directory {}: {why}", path.display())]
    NotPrivate { path: PathBuf, why: &'static str },
    /// A root that cannot be created or written (read-only home, no such parent…).
    #[error("cache directory {} is not usable: {source}", path.display())]
    Unusable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Reading or writing inside the cache failed.
    #[error("cannot {action} {}: {source}", path.display())]
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
            CacheError::NotPrivate { .. } | CacheError::Unusable { .. } => true,
            CacheError::Io { source, .. } => matches!(
                source.raw_os_error(),
                Some(libc::EACCES | libc::EPERM | libc::EROFS | libc::ENOSPC | libc::EDQUOT)
            ),
        }
    }
}
