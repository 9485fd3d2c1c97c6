//! Where the cache lives: `$PYK_CACHE_DIR`, else `$XDG_CACHE_HOME/pyk`, else
//! `$HOME/.cache/pyk`; when that cannot be used, a private `$TMPDIR/pyk-<uid>`, or
//! `/var/tmp/pyk-<uid>` when another user took that name first.
//!
//! Every root must belong to this user and be writable by no one else: whoever can write
//! in a cache can plant code that the next run executes. The shared cache
//! (`$PYK_SHARED_CACHE`, or the config's `shared_cache`) is read, never written, by
//! users, and what it holds runs as them without a check of its hashes (the warm path is
//! a stat and an exec): so it must belong to root or to this user and be writable by no
//! one else. One that does not pass is not used. `pyk cache seed` fills it with the
//! same buckets, keys and locks as any root.

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
    /// The administrator's read-only cache, looked up first.
    pub shared_cache: Option<OsString>,
    /// Where a second fallback root is made when another user took the first's name:
    /// `/var/tmp` ([`RootEnv::read`] sets it; `None`, no second fallback).
    pub var_tmp: Option<PathBuf>,
}

fn set(value: &Option<OsString>) -> Option<&OsString> {
    value.as_ref().filter(|v| !v.is_empty())
}

impl RootEnv {
    /// The values `var` gives for the variables pyk-static names: binaries pass their
    /// environment reader (`std::env::var_os`), tests whatever they like. A relative
    /// directory is taken against the current directory, once, here: the program that
    /// runs gets absolute paths whatever directory it changes to.
    pub fn read(var: impl Fn(&str) -> Option<OsString>) -> RootEnv {
        let dir = |name| var(name).map(absolute);
        RootEnv {
            pyk_cache_dir: dir(EnvVars::PYK_CACHE_DIR),
            xdg_cache_home: dir(EnvVars::XDG_CACHE_HOME),
            home: dir(EnvVars::HOME),
            tmpdir: dir(EnvVars::TMPDIR),
            shared_cache: dir(EnvVars::PYK_SHARED_CACHE),
            var_tmp: Some(PathBuf::from("/var/tmp")),
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
        self.temp_roots()[0].clone()
    }

    /// The fallback roots in order: `$TMPDIR/pyk-<uid>`, then `/var/tmp/pyk-<uid>` for
    /// when another user made the first before this one (any user can make a directory
    /// in /tmp under any name).
    fn temp_roots(&self) -> Vec<PathBuf> {
        let tmp = set(&self.tmpdir).map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
        let name = format!("pyk-{}", uid());
        let mut roots = vec![tmp.join(&name)];
        if let Some(second) = self.var_tmp.as_ref().map(|dir| dir.join(&name)) {
            if roots[0] != second {
                roots.push(second);
            }
        }
        roots
    }

    /// Takes the shared cache from the config files (the last that names one), when the
    /// environment names none; returns whether one was found. The launcher calls this
    /// only when its own cache misses: its warm path reads no file.
    pub fn shared_from_config(&mut self, files: &[PathBuf]) -> bool {
        if set(&self.shared_cache).is_some() {
            return false;
        }
        self.shared_cache = files
            .iter()
            .rev()
            .filter_map(|file| fs::read_to_string(file).ok())
            .find_map(|text| shared_cache_in(&text))
            .map(PathBuf::into_os_string);
        self.shared_cache.is_some()
    }

    /// The shared cache, if one is set: refused (with why) when it is not a directory,
    /// or someone other than root or this user could write to it. One that does not
    /// exist is `None`: nothing has been seeded yet.
    pub fn shared(&self) -> Option<Result<PathBuf, CacheError>> {
        let root = PathBuf::from(set(&self.shared_cache)?);
        match check(&root, Kind::Shared) {
            Ok(()) => Some(Ok(root)),
            Err(CacheError::Unusable { source, .. })
                if source.kind() == io::ErrorKind::NotFound =>
            {
                None
            }
            Err(e) => Some(Err(e)),
        }
    }

    /// The shared cache to look up first, if it passes the checks.
    fn shared_root(&self) -> Option<PathBuf> {
        self.shared().and_then(Result::ok)
    }

    fn cache(&self, root: PathBuf, temporary: bool) -> Cache {
        Cache {
            root,
            temporary,
            shared: self.shared_root(),
        }
    }

    /// The root to read from without writing anything: the main root if it exists and is
    /// private; the fallback only when there is no main root or it cannot be used (a main
    /// root not made yet is made, not passed over, by [`RootEnv::open`]). The launcher's
    /// warm path starts here.
    ///
    /// With a shared cache, a root is returned even when none exists yet: the shared
    /// cache may hold everything, and then nothing is written.
    pub fn find(&self) -> Option<Cache> {
        let shared = self.shared_root().is_some();
        if let Some(root) = self.main_root() {
            match check(&root, Kind::Main) {
                Ok(()) => return Some(self.cache(root, false)),
                Err(CacheError::Unusable { source, .. })
                    if source.kind() == io::ErrorKind::NotFound =>
                {
                    return shared.then(|| self.cache(root, false));
                }
                Err(_) => {}
            }
        }
        let temp = self.existing_temp();
        if temp.is_none() && shared {
            return Some(self.cache(self.temp_root(), true));
        }
        temp
    }

    /// The first fallback root that exists and is private.
    fn existing_temp(&self) -> Option<Cache> {
        self.temp_roots()
            .into_iter()
            .find(|root| check(root, Kind::Fallback).is_ok())
            .map(|root| self.cache(root, true))
    }

    /// The roots that exist and pass the ownership checks, main first: what `pyk cache`
    /// lists, prunes and cleans (never the shared cache, which is not theirs).
    pub fn existing(&self) -> Vec<Cache> {
        let main = self
            .main_root()
            .filter(|root| check(root, Kind::Main).is_ok())
            .map(|root| self.cache(root, false));
        let temps = self
            .temp_roots()
            .into_iter()
            .filter(|root| check(root, Kind::Fallback).is_ok())
            .map(|root| self.cache(root, true));
        main.into_iter().chain(temps).collect()
    }

    /// The root to write to: the main root, created if needed, when it is private and
    /// writable; else the fallback, created with mode 0700.
    ///
    /// When no root can be written but a shared cache is set, the root to read is
    /// returned all the same: a run the shared cache serves writes nothing, and one that
    /// must write fails there, naming what it could not write.
    pub fn open(&self) -> Result<Cache, CacheError> {
        let opened = match self.main_root().map(|root| self.open_main(&root)) {
            Some(Ok(cache)) => Ok(cache),
            Some(Err(main_err)) => self.open_temp().map_err(|_| main_err),
            None => self.open_temp(),
        };
        match opened {
            Err(e) if e.root_unusable() => self.find().filter(|c| c.shared.is_some()).ok_or(e),
            opened => opened,
        }
    }

    /// A fallback root, for when writing to the main root failed on the way: the first
    /// that can be made private, else why the first could not.
    pub fn open_temp(&self) -> Result<Cache, CacheError> {
        let mut first = None;
        for root in self.temp_roots() {
            match fs::DirBuilder::new().mode(0o700).create(&root) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(source) => {
                    first.get_or_insert(CacheError::Unusable { path: root, source });
                    continue;
                }
            }
            match check(&root, Kind::Fallback) {
                Ok(()) => return Ok(self.cache(root, true)),
                Err(e) => {
                    first.get_or_insert(e);
                }
            }
        }
        Err(first.expect("there is a fallback root"))
    }

    /// `dir` as a shared cache to fill (`pyk cache seed`): created (mode 0755) if
    /// needed, and held to the checks users will apply to it. Nothing is looked up
    /// elsewhere: a seed holds everything itself.
    ///
    /// Sets this process's umask to 022: users read what the seeding process writes, so
    /// whatever the administrator's shell's umask, everything the buckets gain must be
    /// readable by all (and written by no one but the owner).
    pub fn seed_root(dir: &Path) -> Result<Cache, CacheError> {
        // SAFETY: umask only sets this process's file creation mask.
        unsafe { libc::umask(0o022) };
        let dir = absolute(dir.as_os_str().to_owned());
        let root = PathBuf::from(dir);
        if !root.is_dir() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(&root)
                .map_err(|source| CacheError::Unusable {
                    path: root.clone(),
                    source,
                })?;
            tag(&root);
        }
        check(&root, Kind::Shared)?;
        Ok(Cache {
            root,
            temporary: false,
            shared: None,
        })
    }

    fn open_main(&self, root: &Path) -> Result<Cache, CacheError> {
        open_main(root).map(|()| self.cache(root.to_path_buf(), false))
    }
}

/// The shared cache a config file's text names: a top-level line `shared_cache = "/path"`
/// (or `'/path'`; the key in any case), read without a TOML parser, since the launcher
/// has none. The CLI parses the file as TOML and refuses a value this reads otherwise, so
/// both read the same directory.
pub fn shared_cache_in(text: &str) -> Option<PathBuf> {
    let mut found = None;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            break;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if !key.trim().eq_ignore_ascii_case("shared_cache") {
            continue;
        }
        let value = value.trim();
        let quote = value.chars().next().filter(|q| matches!(q, '"' | '\''))?;
        let (path, rest) = value[1..].split_once(quote)?;
        let rest = rest.trim();
        if path.contains('\\') || !(rest.is_empty() || rest.starts_with('#')) {
            return None;
        }
        found = Some(PathBuf::from(path)).filter(|p| p.is_absolute());
    }
    found
}

/// `dir` against the current directory, if it is relative (left as it is if the current
/// directory is gone: the root is then refused for not existing).
fn absolute(dir: OsString) -> OsString {
    if dir.is_empty() || Path::new(&dir).is_absolute() {
        return dir;
    }
    std::path::absolute(&dir).map_or(dir, PathBuf::into_os_string)
}

fn open_main(root: &Path) -> Result<(), CacheError> {
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
    check(root, Kind::Main)?;
    // SAFETY: access() only reads the path, which is a valid C string.
    let path = std::ffi::CString::new(root.as_os_str().as_encoded_bytes())
        .map_err(|_| unusable(io::ErrorKind::InvalidInput.into()))?;
    if unsafe { libc::access(path.as_ptr(), libc::W_OK) } != 0 {
        return Err(unusable(io::Error::last_os_error()));
    }
    Ok(())
}

/// Marks a new root as a cache, so backup tools skip it (<https://bford.info/cachedir/>).
fn tag(root: &Path) {
    let _ = fs::write(
        root.join("CACHEDIR.TAG"),
        "Signature: 8a477f597d28d172789f06886806bc55\n# This is pyk's cache: safe to delete.\n",
    );
}

/// Which root [`check`] looks at.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The main root: may be reached through a symlink (a relocated `~/.cache`).
    Main,
    /// The fallback lives in a directory everyone writes, so it must be a real directory
    /// with mode 0700.
    Fallback,
    /// The administrator's: root's (or this user's own), written by no one else.
    Shared,
}

fn check(root: &Path, kind: Kind) -> Result<(), CacheError> {
    let fallback = kind == Kind::Fallback;
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
        let path = root.to_path_buf();
        Err(match kind {
            Kind::Shared => CacheError::SharedRefused { path, why },
            Kind::Main | Kind::Fallback => CacheError::NotPrivate { path, why },
        })
    };
    if !meta.is_dir() {
        return refuse("not a directory");
    }
    let owner_ok = meta.uid() == uid() || (kind == Kind::Shared && meta.uid() == 0);
    if !owner_ok {
        return refuse(if kind == Kind::Shared {
            "owned by a user other than root or you"
        } else {
            "owned by another user"
        });
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

    /// Makes `path` another user's (as root; `false` when this process cannot).
    fn give_away(path: &Path) -> bool {
        std::os::unix::fs::chown(path, Some(65534), Some(65534)).is_ok()
    }

    #[test]
    fn a_squatted_fallback_falls_to_the_second_and_then_says_what_to_set() {
        let tmp = tempfile::tempdir().unwrap();
        let var_tmp = tempfile::tempdir().unwrap();
        let e = RootEnv {
            tmpdir: Some(tmp.path().into()),
            var_tmp: Some(var_tmp.path().into()),
            ..RootEnv::default()
        };
        let first = e.temp_root();
        fs::DirBuilder::new().mode(0o700).create(&first).unwrap();
        if !give_away(&first) {
            return;
        }
        let cache = e.open().unwrap();
        assert!(cache.is_temporary());
        assert_eq!(cache.root(), var_tmp.path().join(format!("pyk-{}", uid())));
        assert_eq!(e.find().unwrap().root(), cache.root());
        assert!(give_away(cache.root()));
        let err = e.open().unwrap_err().to_string();
        assert!(
            err.contains(&first.display().to_string())
                && err.contains("owned by another user")
                && err.contains("set PYK_CACHE_DIR"),
            "{err}"
        );
        assert!(e.find().is_none() && e.existing().is_empty());
    }

    #[test]
    fn the_shared_cache_key_is_read_as_toml_would_or_not_at_all() {
        let read = |text| shared_cache_in(text);
        assert_eq!(
            read("key = \"k\"\nshared_cache = \"/opt/pyk\"\n"),
            Some("/opt/pyk".into())
        );
        assert_eq!(
            read("SHARED_CACHE='/opt/a b' # admins\n"),
            Some("/opt/a b".into())
        );
        assert_eq!(read("[pins]\nshared_cache = \"/opt/pyk\"\n"), None);
        assert_eq!(read("shared_cache = \"relative\"\n"), None);
        assert_eq!(read("shared_cache = \"/opt/\\u0041\"\n"), None);
        assert_eq!(read("shared_cache = \"/opt/pyk\" trailing\n"), None);
    }

    #[test]
    fn relative_directories_are_taken_against_the_current_one() {
        let e = RootEnv::read(|name| (name == EnvVars::PYK_CACHE_DIR).then(|| "rel/c".into()));
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(e.main_root().unwrap(), cwd.join("rel/c"));
    }

    #[test]
    fn a_shared_cache_is_used_only_when_no_one_else_can_write_it() {
        let tmp = tempfile::tempdir().unwrap();
        let shared = tmp.path().join("shared");
        let mut e = env(Some(&tmp.path().join("main")), tmp.path());
        e.shared_cache = Some(shared.clone().into());
        assert!(e.shared().is_none(), "not seeded yet: nothing to use");
        // No main root yet: reading looks in the shared cache, and makes nothing.
        RootEnv::seed_root(&shared).unwrap();
        let found = e.find().unwrap();
        assert_eq!(found.shared(), Some(shared.as_path()));
        assert!(!found.root().exists());
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o775)).unwrap();
        let err = e.shared().unwrap().unwrap_err().to_string();
        assert!(err.contains("writable by other users"), "{err}");
        assert!(e.find().is_none());
        assert!(RootEnv::seed_root(&shared).is_err());
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o755)).unwrap();
        if give_away(&shared) {
            let err = e.shared().unwrap().unwrap_err().to_string();
            assert!(err.contains("owned by a user other than root"), "{err}");
        }
    }
}
