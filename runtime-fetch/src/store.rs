//! The layer cache: `<cache root>/layers-v2/<sha256>.tar.zst` with `<sha256>.toml` metadata
//! beside. v2: self-contained runtimes with the stdlib as files and the glibc floor recorded;
//! layers the old code built (`layers/`) are never reused.
//!
//! Writers put the metadata in place before renaming the layer in, so every visible layer has
//! metadata; both go through the cache's atomic-file helper and are never replaced, so two
//! processes storing the same layer both succeed and readers never see a partial file. A
//! layer without metadata (e.g. an interrupted or foreign write) is skipped by
//! [`LayerStore::list`].

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pyk_artifact::extract::Unpacked;
use pyk_artifact::write::Written;
use pyk_cache::{write_file, write_named, Bucket, Existing};
use pyk_protocol::Sha256;
use serde::{Deserialize, Serialize};

use crate::dpkg::Origin;
use crate::error::IoContext;
use crate::{FetchError, GlibcVersion, PyVersion, PythonRequest};

/// A cached runtime layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// Hex sha256 of the compressed `.tar.zst` bytes.
    pub sha256: String,
    pub path: PathBuf,
    pub python: PyVersion,
    /// The machine its interpreter is built for (`x86_64`, `aarch64`): a build for a platform
    /// takes only that machine's runtimes.
    pub arch: String,
    /// The highest `GLIBC_x.y` symbol version any ELF file in the layer needs: the oldest
    /// glibc the runtime runs on. `None` if nothing in it is versioned against glibc.
    pub glibc: Option<GlibcVersion>,
    /// Where the runtime came from, e.g. "imported from /usr/bin/python3.11".
    pub source: String,
    /// Size of the `.tar.zst` in bytes.
    pub size: u64,
    /// What it unpacks to (the caps an artifact's trailer declares); `None` for layers
    /// stored before this was recorded.
    pub unpacked: Option<Unpacked>,
    /// Unix time the layer was stored.
    pub created: u64,
    /// For a runtime shaken for an app (`pyk build --strip-stdlib`): the layer it was cut
    /// from and the key of what was left out. Such layers are never chosen to build on.
    pub shaken: Option<Shaken>,
    /// The Debian packages its interpreter and bundled libraries came from, where dpkg
    /// knew them when the layer was made (for an artifact's SBOM).
    pub origins: Vec<Origin>,
}

/// Where a shaken runtime layer came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shaken {
    /// sha256 of the full runtime layer.
    pub from: String,
    /// sha256 over the base layer and the paths left out (see `shake`).
    pub key: String,
}

#[derive(Serialize, Deserialize)]
struct Meta {
    python: String,
    /// Absent in layers stored before pyk built for other machines: those are x86_64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    arch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    glibc: Option<String>,
    source: String,
    size: u64,
    /// Bytes of file data and entries the layer unpacks to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    unpacked_size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    entries: Option<u64>,
    created: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    shaken: Option<Shaken>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    origins: Vec<Origin>,
}

/// What the metadata of a layer being stored says of it.
pub(crate) struct About<'a> {
    pub python: PyVersion,
    pub arch: &'a str,
    pub glibc: Option<GlibcVersion>,
    pub source: &'a str,
    pub shaken: Option<Shaken>,
    pub origins: Vec<Origin>,
}

/// Default zstd level: slow to build once, small to ship and fast to decode.
const DEFAULT_ZSTD_LEVEL: i32 = 19;

#[derive(Debug, Clone)]
pub struct LayerStore {
    dir: PathBuf,
    zstd_level: i32,
}

fn is_sha256_hex(s: &str) -> bool {
    s.parse::<Sha256>().is_ok()
}

impl LayerStore {
    /// The store under `<cache_root>/layers-v2`, building layers at zstd level 19 unless
    /// [`Self::with_zstd_level`] says otherwise (the CLI passes `PYK_ZSTD_LEVEL`; tests use 3
    /// to stay fast).
    pub fn open(cache_root: &Path) -> LayerStore {
        LayerStore {
            dir: cache_root.join(Bucket::Layers.dir_name()),
            zstd_level: DEFAULT_ZSTD_LEVEL,
        }
    }

    /// Override the zstd level for layers this store builds (1..=22).
    pub fn with_zstd_level(mut self, level: i32) -> LayerStore {
        self.zstd_level = level.clamp(1, 22);
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn zstd_level(&self) -> i32 {
        self.zstd_level
    }

    pub(crate) fn ensure_dir(&self) -> Result<(), FetchError> {
        fs::create_dir_all(&self.dir).ctx(|| format!("create {}", self.dir.display()))
    }

    /// A scratch directory on the same filesystem as the layers (so renames are atomic); removed
    /// when dropped, and ignored by `list` because of its dot prefix.
    pub(crate) fn scratch_dir(&self) -> Result<tempfile::TempDir, FetchError> {
        self.ensure_dir()?;
        tempfile::Builder::new()
            .prefix(".staging-")
            .tempdir_in(&self.dir)
            .ctx(|| format!("create a staging directory in {}", self.dir.display()))
    }

    fn layer_path(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}.tar.zst"))
    }

    fn meta_path(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}.toml"))
    }

    fn load(&self, sha256: &str) -> Result<Option<Layer>, FetchError> {
        let meta_path = self.meta_path(sha256);
        let text = match fs::read_to_string(&meta_path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).ctx(|| format!("read {}", meta_path.display())),
        };
        let bad = |reason: String| FetchError::BadMetadata {
            path: meta_path.clone(),
            reason,
        };
        let meta: Meta = toml::from_str(&text).map_err(|e| bad(e.message().to_string()))?;
        let python =
            meta.python
                .parse()
                .map_err(|e: FetchError| FetchError::BadMetadataVersion {
                    path: meta_path.clone(),
                    source: Box::new(e),
                })?;
        let glibc = meta
            .glibc
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(bad)?;
        Ok(Some(Layer {
            sha256: sha256.to_string(),
            path: self.layer_path(sha256),
            python,
            arch: meta.arch.unwrap_or_else(|| "x86_64".to_owned()),
            glibc,
            source: meta.source,
            size: meta.size,
            unpacked: meta
                .unpacked_size
                .zip(meta.entries)
                .map(|(size, files)| Unpacked { size, files }),
            created: meta.created,
            shaken: meta.shaken,
            origins: meta.origins,
        }))
    }

    /// All full runtime layers with metadata, sorted by version then creation time.
    pub fn list(&self) -> Result<Vec<Layer>, FetchError> {
        Ok(self
            .list_all()?
            .into_iter()
            .filter(|l| l.shaken.is_none())
            .collect())
    }

    /// The shaken layer stored under `key`, if any.
    pub(crate) fn find_shaken(&self, key: &str) -> Result<Option<Layer>, FetchError> {
        Ok(self
            .list_all()?
            .into_iter()
            .find(|l| l.shaken.as_ref().is_some_and(|s| s.key == key)))
    }

    /// Full and shaken layers alike.
    pub fn list_all(&self) -> Result<Vec<Layer>, FetchError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).ctx(|| format!("read {}", self.dir.display())),
        };
        let mut layers = Vec::new();
        for entry in entries {
            let entry = entry.ctx(|| format!("read {}", self.dir.display()))?;
            let name = entry.file_name();
            let Some(sha) = name.to_str().and_then(|n| n.strip_suffix(".tar.zst")) else {
                continue;
            };
            if !is_sha256_hex(sha) {
                continue;
            }
            if let Some(layer) = self.load(sha)? {
                layers.push(layer);
            }
        }
        layers.sort_by_key(|l| (l.python, l.created));
        Ok(layers)
    }

    /// The layer with the highest patch version satisfying `req` (newest if tied).
    pub fn best_match(&self, req: &PythonRequest, arch: &str) -> Result<Option<Layer>, FetchError> {
        Ok(self
            .list()?
            .into_iter()
            .filter(|l| l.arch == arch && req.matches(&l.python))
            .max_by_key(|l| (l.python, l.created)))
    }

    /// The layer whose sha256 starts with `sha256_prefix`; an ambiguous prefix is an error.
    pub fn find(&self, sha256_prefix: &str) -> Result<Option<Layer>, FetchError> {
        let prefix = sha256_prefix.trim().to_ascii_lowercase();
        if prefix.is_empty() {
            return Ok(None);
        }
        let mut found: Vec<Layer> = self
            .list()?
            .into_iter()
            .filter(|l| l.sha256.starts_with(&prefix))
            .collect();
        match found.len() {
            0 => Ok(None),
            1 => Ok(found.pop()),
            count => Err(FetchError::AmbiguousLayer { prefix, count }),
        }
    }

    /// The layer with exactly this sha256, if stored.
    pub(crate) fn get(&self, sha256: &str) -> Result<Option<Layer>, FetchError> {
        if self.layer_path(sha256).is_file() {
            self.load(sha256)
        } else {
            Ok(None)
        }
    }

    /// Delete a layer and its metadata (layer first, so no layer is left without metadata).
    pub fn remove(&self, sha256: &str) -> Result<(), FetchError> {
        if !is_sha256_hex(sha256) || !self.layer_path(sha256).exists() {
            return Err(FetchError::NoSuchLayer {
                prefix: sha256.to_string(),
            });
        }
        for path in [self.layer_path(sha256), self.meta_path(sha256)] {
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).ctx(|| format!("remove {}", path.display())),
            }
        }
        Ok(())
    }

    /// Record that a layer was used (its mtime), so [`LayerStore::prune`] keeps it. Best effort:
    /// a read-only cache must not break builds.
    pub fn touch(&self, layer: &Layer) {
        if let Ok(file) = fs::File::options().append(true).open(&layer.path) {
            let _ = file.set_modified(SystemTime::now());
        }
    }

    /// Remove layers not used (see [`LayerStore::touch`]) for `unused_for`; returns them.
    /// Also removes temporary files and staging directories a killed import left behind
    /// (dot-prefixed, older than a day).
    pub fn prune(&self, unused_for: Duration) -> Result<Vec<Layer>, FetchError> {
        let cutoff = SystemTime::now()
            .checked_sub(unused_for)
            .unwrap_or(UNIX_EPOCH);
        self.remove_stale_temporaries()?;
        let mut removed = Vec::new();
        for layer in self.list_all()? {
            let mtime = fs::metadata(&layer.path)
                .and_then(|m| m.modified())
                .ctx(|| format!("stat {}", layer.path.display()))?;
            if mtime < cutoff {
                self.remove(&layer.sha256)?;
                removed.push(layer);
            }
        }
        Ok(removed)
    }

    fn remove_stale_temporaries(&self) -> Result<(), FetchError> {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return Ok(());
        };
        let day_ago = SystemTime::now()
            .checked_sub(Duration::from_secs(24 * 3600))
            .unwrap_or(UNIX_EPOCH);
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if !(name.starts_with(".staging-") || name.starts_with(".tmp-")) {
                continue;
            }
            let Ok(meta) = entry.metadata() else { continue };
            if meta.modified().is_ok_and(|m| m < day_ago) {
                let path = entry.path();
                if meta.is_dir() {
                    fs::remove_dir_all(&path)
                } else {
                    fs::remove_file(&path)
                }
                .ctx(|| format!("remove {}", path.display()))?;
            }
        }
        Ok(())
    }

    /// Writes a layer into the store: `write` fills the layer file and says what it wrote;
    /// the metadata goes in place before the layer, each through the cache's atomic-file
    /// helper. If another process stored the same layer meanwhile, theirs is kept and
    /// returned.
    pub(crate) fn store(
        &self,
        about: About,
        write: impl FnOnce(&mut fs::File) -> Result<Written, FetchError>,
    ) -> Result<Layer, FetchError> {
        let created = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut failure = None;
        let mut written = None;
        let stored = write_named(&self.dir, 0o644, |file| {
            let result = write(file).and_then(|w| {
                let sha256 = w.sha256.to_string();
                let meta = Meta {
                    python: about.python.to_string(),
                    arch: Some(about.arch.to_string()),
                    glibc: about.glibc.map(|g| g.to_string()),
                    source: about.source.to_string(),
                    size: w.len,
                    unpacked_size: Some(w.size),
                    entries: Some(w.files),
                    created,
                    shaken: about.shaken,
                    origins: about.origins,
                };
                let text = toml::to_string(&meta).map_err(|e| FetchError::BadMetadata {
                    path: self.meta_path(&sha256),
                    reason: e.to_string(),
                })?;
                write_file(&self.meta_path(&sha256), 0o644, Existing::Keep, |f| {
                    f.write_all(text.as_bytes())
                })
                .map_err(|e| FetchError::Io {
                    context: format!("write {}", self.meta_path(&sha256).display()),
                    source: io::Error::other(e),
                })?;
                Ok(sha256)
            });
            match result {
                Ok(sha256) => {
                    written = Some(sha256.clone());
                    Ok(format!("{sha256}.tar.zst"))
                }
                Err(e) => {
                    failure = Some(e);
                    Err(io::ErrorKind::Other.into())
                }
            }
        });
        if let Some(e) = failure {
            return Err(e);
        }
        stored.map_err(|e| FetchError::Io {
            context: format!("store a layer in {}", self.dir.display()),
            source: io::Error::other(e),
        })?;
        let sha256 = written.unwrap_or_default();
        self.get(&sha256)?
            .ok_or(FetchError::NoSuchLayer { prefix: sha256 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(store: &LayerStore, sha: &str, version: &str) -> Layer {
        store
            .store(
                About {
                    python: version.parse().unwrap(),
                    arch: "x86_64",
                    glibc: None,
                    source: "test",
                    shaken: None,
                    origins: Vec::new(),
                },
                |file| {
                    file.write_all(sha.as_bytes()).unwrap();
                    Ok(Written {
                        sha256: sha.parse().unwrap(),
                        len: 64,
                        size: 0,
                        files: 0,
                    })
                },
            )
            .unwrap()
    }

    #[test]
    fn list_match_find_remove_prune() {
        let cache = tempfile::tempdir().unwrap();
        let store = LayerStore::open(cache.path());
        assert!(store.list().unwrap().is_empty());
        let (a, b, c) = ("a".repeat(64), "ab".repeat(32), "c".repeat(64));
        put(&store, &a, "3.11.2");
        put(&store, &b, "3.11.7");
        put(&store, &c, "3.12.1");
        // A layer without metadata (interrupted foreign write) is skipped; so is junk.
        fs::write(
            store.dir().join(format!("{}.tar.zst", "d".repeat(64))),
            b"x",
        )
        .unwrap();
        fs::write(store.dir().join("notes.tar.zst"), b"x").unwrap();
        assert_eq!(store.list().unwrap().len(), 3);

        let best = |r: &str| store.best_match(&r.parse().unwrap(), "x86_64").unwrap();
        assert!(store
            .best_match(&"3.11".parse().unwrap(), "aarch64")
            .unwrap()
            .is_none());
        assert_eq!(best("3.11").unwrap().sha256, b);
        assert_eq!(best("3.11.2").unwrap().sha256, a);
        assert_eq!(best("3.12").unwrap().python.to_string(), "3.12.1");
        assert!(best("3.13").is_none());

        assert_eq!(store.find("c").unwrap().unwrap().sha256, c);
        assert!(store.find("e").unwrap().is_none());
        let err = store.find("a").unwrap_err();
        assert!(
            matches!(err, FetchError::AmbiguousLayer { count: 2, .. }),
            "{err}"
        );

        store.remove(&a).unwrap();
        assert!(!store.dir().join(format!("{a}.toml")).exists());
        assert!(matches!(
            store.remove(&a),
            Err(FetchError::NoSuchLayer { .. })
        ));

        // Storing the same sha again keeps the first metadata.
        let again = put(&store, &b, "3.11.7");
        assert_eq!(again, store.find(&b).unwrap().unwrap());

        // Prune: c was used just now, b long ago.
        let old = SystemTime::now() - Duration::from_secs(3600 * 24 * 40);
        fs::File::options()
            .append(true)
            .open(store.dir().join(format!("{b}.tar.zst")))
            .unwrap()
            .set_modified(old)
            .unwrap();
        store.touch(&store.find(&c).unwrap().unwrap());
        let stale = store.dir().join(".staging-dead");
        fs::create_dir(&stale).unwrap();
        fs::File::open(&stale).unwrap().set_modified(old).unwrap();
        let fresh = store.dir().join(".tmp-live");
        fs::write(&fresh, b"").unwrap();
        let pruned = store.prune(Duration::from_secs(3600 * 24 * 30)).unwrap();
        assert_eq!(pruned.len(), 1);
        assert_eq!(pruned[0].sha256, b);
        assert_eq!(store.list().unwrap().len(), 1);
        assert!(!stale.exists() && fresh.exists());
    }
}
