//! Removing entries: `prune` by age and total size, `clean` for everything. Entries a
//! running process holds (`LOCK_SH`) are skipped, in both roots alike.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::lock::EntryLock;
use crate::usage::Entry;
use crate::{Bucket, Cache, CacheError, VIEW_UNITS};

/// Which entries `prune` removes. With neither bound, nothing but debris.
#[derive(Clone, Copy, Debug, Default)]
pub struct Select {
    /// Entries not used for longer than this.
    pub older_than: Option<Duration>,
    /// Then the least recently used, until the root holds at most this many bytes.
    pub max_size: Option<u64>,
}

/// What a prune or clean did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Removal {
    pub entries: u64,
    pub bytes: u64,
    /// Entries left because a running program holds them.
    pub in_use: u64,
}

/// Temp files younger than this may belong to a write in progress.
const DEBRIS_AGE: Duration = Duration::from_secs(3600);

impl Cache {
    /// Removes what `select` picks, least recently used first. Units go last, and only
    /// those no view left in place needs (see [`crate::VIEW_UNITS`]): a view's files are
    /// links to its units', so a unit removed under a kept view would only be unpacked
    /// again, a second copy, when the next view needs it.
    pub fn prune(&self, select: &Select) -> Result<Removal, CacheError> {
        let mut removal = self.remove_debris()?;
        let entries = self.entries()?;
        let mut total: u64 = entries.iter().map(|e| e.size).sum();
        let now = SystemTime::now();
        let (units, others): (Vec<&Entry>, Vec<&Entry>) =
            entries.iter().partition(|e| e.bucket == Bucket::Units);
        let mut pass = |entries: Vec<&Entry>, needed: &HashSet<String>| {
            for entry in entries {
                let old = select.older_than.is_some_and(|age| {
                    now.duration_since(entry.last_use).unwrap_or_default() > age
                });
                let over = select.max_size.is_some_and(|max| total > max);
                if !(old || over) || needed.contains(&entry.key) {
                    continue;
                }
                if self.remove_counted(entry, &mut removal)? {
                    total -= entry.size;
                }
            }
            Ok::<_, CacheError>(())
        };
        pass(others, &HashSet::new())?;
        let needed = self.units_needed()?;
        pass(units, &needed)?;
        Ok(removal)
    }

    /// Removes every entry no running program holds, and every unit no view left in place
    /// needs.
    pub fn clean(&self) -> Result<Removal, CacheError> {
        let mut removal = self.remove_debris()?;
        let entries = self.entries()?;
        let (units, others): (Vec<&Entry>, Vec<&Entry>) =
            entries.iter().partition(|e| e.bucket == Bucket::Units);
        let mut clean = |entries: Vec<&Entry>, needed: &HashSet<String>| {
            for entry in entries.into_iter().filter(|e| !needed.contains(&e.key)) {
                self.remove_counted(entry, &mut removal)?;
            }
            Ok::<_, CacheError>(())
        };
        clean(others, &HashSet::new())?;
        let needed = self.units_needed()?;
        clean(units, &needed)?;
        Ok(removal)
    }

    /// [`Cache::remove`], counted in `removal`: removed, or left in use.
    fn remove_counted(&self, entry: &Entry, removal: &mut Removal) -> Result<bool, CacheError> {
        let removed = self.remove(entry)?;
        match removed {
            true => {
                removal.entries += 1;
                removal.bytes += entry.size;
            }
            false => removal.in_use += 1,
        }
        Ok(removed)
    }

    /// The units the views in place were assembled from.
    fn units_needed(&self) -> Result<HashSet<String>, CacheError> {
        let mut needed = HashSet::new();
        for view in self.entries()?.iter().filter(|e| e.bucket == Bucket::Views) {
            for dir in &view.paths {
                let list = dir.join(VIEW_UNITS);
                match fs::read_to_string(&list) {
                    Ok(text) => needed.extend(text.lines().map(str::to_owned)),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(CacheError::io("read", &list)(e)),
                }
            }
        }
        Ok(needed)
    }

    /// Whether a running program holds the entry (its lock cannot be taken exclusively).
    pub fn in_use(&self, entry: &Entry) -> bool {
        EntryLock::is_held(&entry.lock)
    }

    /// Removes one entry unless someone holds it; returns whether it was removed. A
    /// directory is first renamed to a work name, so no process can start from a half-
    /// deleted tree, and the next filler or prune finishes the job if this one is killed.
    pub fn remove(&self, entry: &Entry) -> Result<bool, CacheError> {
        let Some(lock) =
            EntryLock::try_exclusive(&entry.lock).map_err(CacheError::io("lock", &entry.lock))?
        else {
            return Ok(false);
        };
        for path in &entry.paths {
            remove_path(path)?;
        }
        let _ = fs::remove_file(&entry.lock);
        drop(lock);
        Ok(true)
    }

    fn remove_debris(&self) -> Result<Removal, CacheError> {
        let mut removal = Removal::default();
        let now = SystemTime::now();
        for (path, _, guard) in self.debris()? {
            let _held = match &guard {
                Some(lock) => match EntryLock::try_exclusive(lock) {
                    Ok(Some(held)) => Some(held),
                    _ => continue,
                },
                None => {
                    let age = fs::symlink_metadata(&path)
                        .and_then(|m| m.modified())
                        .map(|t| now.duration_since(t).unwrap_or_default());
                    if !age.is_ok_and(|a| a > DEBRIS_AGE) {
                        continue;
                    }
                    None
                }
            };
            if guard.as_ref() == Some(&path) {
                // An orphan lock file: removed while held, like an entry's.
                let _ = fs::remove_file(&path);
                continue;
            }
            removal.bytes += remove_tree(&path).map_err(CacheError::io("remove", &path))?;
        }
        Ok(removal)
    }
}

fn remove_path(path: &Path) -> Result<(), CacheError> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(CacheError::io("remove", path)(e)),
    };
    if meta.is_dir() {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let aside = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
        fs::rename(path, &aside).map_err(CacheError::io("remove", path))?;
        remove_tree(&aside).map_err(CacheError::io("remove", &aside))?;
    } else {
        fs::remove_file(path).map_err(CacheError::io("remove", path))?;
    }
    Ok(())
}

/// Removes a file or a tree; returns the bytes it held.
fn remove_tree(path: &Path) -> io::Result<u64> {
    let meta = fs::symlink_metadata(path)?;
    if !meta.is_dir() {
        fs::remove_file(path)?;
        return Ok(meta.len());
    }
    let mut bytes = 0;
    for entry in fs::read_dir(path)? {
        bytes += remove_tree(&entry?.path())?;
    }
    fs::remove_dir(path)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RootEnv;

    fn cache() -> (tempfile::TempDir, Cache) {
        let dir = tempfile::tempdir().unwrap();
        let env = RootEnv {
            pyk_cache_dir: Some(dir.path().join("root").into()),
            ..RootEnv::default()
        };
        let cache = env.open().unwrap();
        (dir, cache)
    }

    fn fill(cache: &Cache, bucket: Bucket, key: &str, bytes: usize) -> crate::Held {
        cache
            .fill::<()>(bucket, key, |work| {
                fs::write(work.join("data"), vec![b'x'; bytes]).map_err(drop)
            })
            .unwrap()
    }

    #[test]
    fn clean_skips_entries_in_use() {
        let (_d, cache) = cache();
        let held = fill(&cache, Bucket::Runtimes, "aaaa", 10);
        drop(fill(&cache, Bucket::Apps, "bbbb", 20));
        let removal = cache.clean().unwrap();
        assert_eq!((removal.entries, removal.bytes, removal.in_use), (1, 20, 1));
        assert!(cache.entry(Bucket::Runtimes, "aaaa").is_dir());
        assert!(!cache.entry(Bucket::Apps, "bbbb").exists());
        assert!(!cache.bucket(Bucket::Apps).join("bbbb.lock").exists());
        drop(held);
        assert_eq!(cache.clean().unwrap().entries, 1);
        assert!(cache.entries().unwrap().is_empty());
    }

    #[test]
    fn prune_to_a_size_removes_the_least_recently_used() {
        let (_d, cache) = cache();
        for (key, atime) in [("old", 1_000), ("new", 2_000)] {
            drop(fill(&cache, Bucket::Deps, key, 100));
            let dir = cache.entry(Bucket::Deps, key);
            for p in [dir.join("data"), dir.clone()] {
                let t = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
                let times = [
                    libc::timespec {
                        tv_sec: atime,
                        tv_nsec: 0,
                    },
                    libc::timespec {
                        tv_sec: atime,
                        tv_nsec: 0,
                    },
                ];
                // SAFETY: a valid path and two timespecs.
                assert_eq!(
                    unsafe { libc::utimensat(libc::AT_FDCWD, t.as_ptr(), times.as_ptr(), 0) },
                    0
                );
            }
        }
        let removal = cache
            .prune(&Select {
                older_than: None,
                max_size: Some(150),
            })
            .unwrap();
        assert_eq!(removal.entries, 1);
        let left: Vec<_> = cache
            .entries()
            .unwrap()
            .into_iter()
            .map(|e| e.key)
            .collect();
        assert_eq!(left, ["new"]);
        // Both are older than a day: an age bound takes the rest.
        let removal = cache
            .prune(&Select {
                older_than: Some(Duration::from_secs(86_400)),
                max_size: None,
            })
            .unwrap();
        assert_eq!(removal.entries, 1);
    }

    #[test]
    fn units_stay_while_a_kept_view_needs_them() {
        let (_d, cache) = cache();
        drop(fill(&cache, Bucket::Units, "u1", 100));
        drop(fill(&cache, Bucket::Units, "u2", 100));
        let view = cache
            .fill::<()>(Bucket::Views, "v1", |work| {
                fs::hard_link(
                    cache.entry(Bucket::Units, "u1").join("data"),
                    work.join("data"),
                )
                .and_then(|()| fs::write(work.join(VIEW_UNITS), "u1\n"))
                .map_err(drop)
            })
            .unwrap();
        // The view's linked file is the unit's bytes: counted once.
        let sizes: Vec<_> = cache
            .entries()
            .unwrap()
            .iter()
            .map(|e| (e.key.clone(), e.size))
            .collect();
        assert!(sizes.contains(&("v1".into(), 3)), "{sizes:?}");
        // Held, the view stays, and so does its unit; the other unit goes.
        let removal = cache.clean().unwrap();
        assert_eq!((removal.entries, removal.in_use), (1, 1));
        assert!(cache.entry(Bucket::Units, "u1").is_dir());
        assert!(!cache.entry(Bucket::Units, "u2").exists());
        // An age bound takes neither while the view is kept.
        let old = Select {
            older_than: Some(Duration::ZERO),
            max_size: None,
        };
        std::thread::sleep(Duration::from_millis(10));
        assert_eq!(cache.prune(&old).unwrap().entries, 0);
        drop(view);
        // The view gone, its unit goes with it.
        assert_eq!(cache.prune(&old).unwrap().entries, 2);
        assert!(cache.entries().unwrap().is_empty());
    }

    #[test]
    fn files_join_entries_by_key() {
        let (_d, cache) = cache();
        let layers = cache.bucket(Bucket::Layers);
        fs::create_dir_all(&layers).unwrap();
        fs::write(layers.join("abc.tar.zst"), "zz").unwrap();
        fs::write(layers.join("abc.toml"), "t").unwrap();
        let packages = cache.bucket(Bucket::Packages).join("run");
        fs::create_dir_all(&packages).unwrap();
        fs::write(packages.join("foo@1.2.json"), "{}").unwrap();
        let entries = cache.entries().unwrap();
        let keys: Vec<_> = entries.iter().map(|e| (e.key.as_str(), e.size)).collect();
        assert!(keys.contains(&("abc", 3)), "{keys:?}");
        assert!(keys.contains(&("run/foo@1.2", 2)), "{keys:?}");
    }
}
