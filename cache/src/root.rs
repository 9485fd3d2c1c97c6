//! Where the cache lives: `$PYK_CACHE_DIR`, else `$XDG_CACHE_HOME/pyk`, else
//! `$HOME/.cache/pyk`; when that cannot be used, a private `$TMPDIR/pyk-<uid>`.
//!
//! Both roots must belong to this user and be writable by no one else: whoever can write
//! in a cache can plant code that the next run executes.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use pyk_static::EnvVars;

use crate::{Cache, CacheError};

/// The environment values the root depends on, read by the binary and passed in. Empty
/// values count as unset.
#[derive(Clone, Debug, Default)]
pub struct RootEnv {
    pub pyk_cache_dir: Option<OsString>,
    pub xdg_cache_home: Option<OsString>,
    pub home: Option<OsString>,
    pub tmpdir: Option<OsString>,
}

fn set(value: &Option<OsString>) -> Option<&OsString> {
    value.as_ref().filter(|v| !v.is_empty())
}

impl RootEnv {
    /// The values `var` gives for the variables pyk-static names: binaries pass their
    /// environment reader (`std::env::var_os`), tests whatever they like.
    pub fn read(var: impl Fn(&str) -> Option<OsString>) -> RootEnv {
        RootEnv {
            pyk_cache_dir: var(EnvVars::PYK_CACHE_DIR),
            xdg_cache_home: var(EnvVars::XDG_CACHE_HOME),
            home: var(EnvVars::HOME),
            tmpdir: var(EnvVars::TMPDIR),
        }
    }

    /// The main root, or `None` when neither a cache variable nor `$HOME` is set.
    pub fn main_root(&self) -> Option<PathBuf> {
        if let Some(dir) = set(&self.pyk_cache_dir) {
            return Some(PathBuf::from(dir));
        }
        if let Some(dir) = set(&self.xdg_cache_home) {
            return Some(Path::new(dir).join("pyk"));
        }
        set(&self.home).map(|home| Path::new(home).join(".cache").join("pyk"))
    }

    /// The private fallback root, `$TMPDIR/pyk-<uid>` (`/tmp` when `$TMPDIR` is unset).
    pub fn temp_root(&self) -> PathBuf {
        let tmp = set(&self.tmpdir).map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
        tmp.join(format!("pyk-{}", uid()))
    }

    /// The root to read from without writing anything: the main root if it exists and is
    /// private; the fallback only when there is no main root or it cannot be used (a main
    /// root not made yet is made, not passed over, by [`RootEnv::open`]). The launcher's
    /// warm path starts here.
    pub fn find(&self) -> Option<Cache> {
        if let Some(root) = self.main_root() {
            match check(&root, false) {
                Ok(()) => {
                    return Some(Cache {
                        root,
                        temporary: false,
                    })
                }
                Err(CacheError::Unusable { source, .. })
                    if source.kind() == io::ErrorKind::NotFound =>
                {
                    return None
                }
                Err(_) => {}
            }
        }
        let temp = self.temp_root();
        check(&temp, true).is_ok().then_some(Cache {
            root: temp,
            temporary: true,
        })
    }

    /// Both roots that exist and pass the ownership checks, main first: what `pyk cache`
    /// lists, prunes and cleans.
    pub fn existing(&self) -> Vec<Cache> {
        let main = self
            .main_root()
            .filter(|root| check(root, false).is_ok())
            .map(|root| Cache {
                root,
                temporary: false,
            });
        let temp = self.temp_root();
        let temp = check(&temp, true).is_ok().then_some(Cache {
            root: temp,
            temporary: true,
        });
        main.into_iter().chain(temp).collect()
    }

    /// The root to write to: the main root, created if needed, when it is private and
    /// writable; else the fallback, created with mode 0700.
    pub fn open(&self) -> Result<Cache, CacheError> {
        match self.main_root().map(|root| open_main(&root)) {
            Some(Ok(cache)) => Ok(cache),
            Some(Err(main_err)) => self.open_temp().map_err(|_| main_err),
            None => self.open_temp(),
        }
    }

    /// The fallback root, for when writing to the main root failed on the way.
    pub fn open_temp(&self) -> Result<Cache, CacheError> {
        let root = self.temp_root();
        match fs::DirBuilder::new().mode(0o700).create(&root) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(source) => return Err(CacheError::Unusable { path: root, source }),
        }
        check(&root, true)?;
        Ok(Cache {
            root,
            temporary: true,
        })
    }
}

fn open_main(root: &Path) -> Result<Cache, CacheError> {
    let unusable = |source| CacheError::Unusable {
        path: root.to_path_buf(),
        source,
    };
    if !root.is_dir() {
        if let Some(parent) = root.parent() {
            fs::create_dir_all(parent).map_err(unusable)?;
        }
        match fs::DirBuilder::new().mode(0o700).create(root) {
            Ok(()) => tag(root),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(unusable(e)),
        }
    }
    check(root, false)?;
    // SAFETY: access() only reads the path, which is a valid C string.
    let path = std::ffi::CString::new(root.as_os_str().as_encoded_bytes())
        .map_err(|_| unusable(io::ErrorKind::InvalidInput.into()))?;
    if unsafe { libc::access(path.as_ptr(), libc::W_OK) } != 0 {
        return Err(unusable(io::Error::last_os_error()));
    }
    Ok(Cache {
        root: root.to_path_buf(),
        temporary: false,
    })
}

/// Marks a new root as a cache, so backup tools skip it (<https://bford.info/cachedir/>).
fn tag(root: &Path) {
    let _ = fs::write(
        root.join("CACHEDIR.TAG"),
        "Signature: 8a477f597d28d172789f06886806bc55\n# This is pyk's cache: safe to delete.\n",
    );
}

/// The main root may be reached through a symlink (a relocated `~/.cache`); the fallback
/// lives in a shared directory, so it must be a real directory with mode 0700.
fn check(root: &Path, fallback: bool) -> Result<(), CacheError> {
    let meta = if fallback {
        fs::symlink_metadata(root)
    } else {
        fs::metadata(root)
    };
    let meta = meta.map_err(|source| CacheError::Unusable {
        path: root.to_path_buf(),
        source,
    })?;
    let refuse = |why| {
        Err(CacheError::NotPrivate {
            path: root.to_path_buf(),
            why,
        })
    };
    if !meta.is_dir() {
        return refuse("not a directory");
    }
    if meta.uid() != uid() {
        return refuse("owned by another user");
    }
    let others = if fallback { 0o077 } else { 0o022 };
    if meta.mode() & others != 0 {
        return refuse(if fallback {
            "not mode 0700"
        } else {
            "writable by other users"
        });
    }
    Ok(())
}

fn uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn env(cache: Option<&Path>, tmp: &Path) -> RootEnv {
        RootEnv {
            pyk_cache_dir: cache.map(Into::into),
            tmpdir: Some(tmp.into()),
            ..RootEnv::default()
        }
    }

    #[test]
    fn order_of_variables() {
        let e = RootEnv {
            xdg_cache_home: Some("/x".into()),
            home: Some("/h".into()),
            ..RootEnv::default()
        };
        assert_eq!(e.main_root().unwrap(), Path::new("/x/pyk"));
        let e = RootEnv {
            xdg_cache_home: Some("".into()),
            home: Some("/h".into()),
            ..RootEnv::default()
        };
        assert_eq!(e.main_root().unwrap(), Path::new("/h/.cache/pyk"));
        assert!(RootEnv::default().main_root().is_none());
    }

    #[test]
    fn a_main_root_not_made_yet_is_not_passed_over() {
        let tmp = tempfile::tempdir().unwrap();
        let e = env(Some(&tmp.path().join("main")), tmp.path());
        e.open_temp().unwrap();
        assert!(
            e.find().is_none(),
            "the warm path must not run from the fallback"
        );
        assert!(!e.open().unwrap().is_temporary());
        assert!(!e.find().unwrap().is_temporary());
    }

    #[test]
    fn falls_back_to_a_private_temp_dir() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = env(Some(Path::new("/dev/null/pyk")), tmp.path())
            .open()
            .unwrap();
        assert!(cache.is_temporary());
        let mode = fs::metadata(cache.root()).unwrap().mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    #[test]
    fn refuses_roots_others_can_write() {
        let tmp = tempfile::tempdir().unwrap();
        let main = tmp.path().join("main");
        fs::create_dir(&main).unwrap();
        fs::set_permissions(&main, fs::Permissions::from_mode(0o777)).unwrap();
        let e = env(Some(&main), tmp.path());
        // The main root is refused, so the fallback is used…
        assert!(e.open().unwrap().is_temporary());
        assert!(e.find().unwrap().is_temporary());
        // …and a fallback that is not 0700 is refused too.
        fs::set_permissions(e.temp_root(), fs::Permissions::from_mode(0o755)).unwrap();
        let err = e.open().unwrap_err();
        assert!(err.to_string().contains("writable by other users"), "{err}");
        assert!(e.existing().is_empty());
    }
}
