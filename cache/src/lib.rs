//! pyk's cache: one root, named and versioned buckets, the one way to put a file or a
//! directory in place atomically, locks that keep running programs' entries alive, and the
//! bookkeeping that `pyk cache list | size | prune | clean` needs.
//!
//! The crate knows nothing of what an entry means: callers name buckets and keys (a sha256
//! for content-named entries). Environment values are passed in ([`RootEnv`]): only the
//! binaries read the environment.
//!
//! An administrator's read-only shared cache (`PYK_SHARED_CACHE`, see [`root`]) is laid
//! out the same way and looked up first, by the same keys: an entry found there is run
//! from there, and the user's own root is never written for it.

mod atomic;
mod error;
mod exec;
mod lock;
mod prune;
pub mod root;
mod usage;

use std::path::{Path, PathBuf};

pub use atomic::{fill_dir, write_file, write_named, Existing, FillError};
pub use error::CacheError;
pub use lock::EntryLock;
pub use prune::{Removal, Select};
pub use root::RootEnv;
pub use usage::Entry;

/// A directory of entries of one kind. The directory is named `<name>-v<N>`: N is bumped
/// when what an entry means changes, so old and new pyk never misread each other's entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Bucket {
    /// Unpacked runtime layers, `<sha256 of the compressed layer>/`.
    Runtimes,
    /// Unpacked dependency layers (site-packages trees).
    Deps,
    /// Unpacked app layers (the app's own code and its `__pyk_boot__`).
    Apps,
    /// Unpacked unit layers: one installed distribution's files each.
    Units,
    /// Dependency views: a program's site-packages assembled from units by hard links
    /// (copies across filesystems), `<view key>/`, naming its units in [`VIEW_UNITS`].
    Views,
    /// Runtime layers built on this machine, `<sha>.tar.zst` with `<sha>.toml` beside.
    Layers,
    /// Manifests the client fetched, `<kind>/<name>[@<version>].json`.
    Packages,
    /// Decrypted blobs the client still needs whole: trailers, pushed files.
    Blobs,
    /// Whole artifacts, which pyk's runner kept before it ran from layers: nothing writes
    /// here any more, and `pyk cache` still sizes, prunes and cleans what an older pyk left.
    Artifacts,
}

impl Bucket {
    pub const ALL: [Bucket; 9] = [
        Bucket::Runtimes,
        Bucket::Deps,
        Bucket::Apps,
        Bucket::Units,
        Bucket::Views,
        Bucket::Layers,
        Bucket::Packages,
        Bucket::Blobs,
        Bucket::Artifacts,
    ];

    /// The bucket's directory name under the root.
    pub fn dir_name(self) -> &'static str {
        match self {
            Bucket::Runtimes => "runtimes-v2",
            Bucket::Deps => "deps-v1",
            Bucket::Apps => "apps-v1",
            Bucket::Units => "units-v1",
            Bucket::Views => "views-v1",
            Bucket::Layers => "layers-v2",
            Bucket::Packages => "packages-v1",
            Bucket::Blobs => "blobs-v1",
            Bucket::Artifacts => "artifacts-v1",
        }
    }

    /// Whether entries sit one directory deeper (`packages-v1/<kind>/…`).
    fn nested(self) -> bool {
        self == Bucket::Packages
    }

    /// Whether an entry is a directory filled once (`fill_dir`), rather than files.
    fn unpacked(self) -> bool {
        matches!(
            self,
            Bucket::Runtimes | Bucket::Deps | Bucket::Apps | Bucket::Units | Bucket::Views
        )
    }
}

/// The file at the top of a view that names the units it was assembled from, a sha256 a
/// line: prune keeps a unit while a view it keeps needs it (the view's files are links to
/// the unit's, so a second view would otherwise unpack the unit again).
pub const VIEW_UNITS: &str = ".pyk-units";

/// A usable cache root: it exists, belongs to this user and no one else can write to it;
/// with the shared cache, if one is set and trusted, looked up before it.
#[derive(Clone, Debug)]
pub struct Cache {
    root: PathBuf,
    temporary: bool,
    /// The administrator's read-only cache (checked by [`root`]), looked up first.
    shared: Option<PathBuf>,
}

/// An entry held: its directory (in the shared cache or the user's own root), kept from
/// prune while this value lives.
#[derive(Debug)]
pub struct Held {
    dir: PathBuf,
    lock: EntryLock,
}

impl Held {
    /// The entry's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Lets the hold outlive an exec (see [`EntryLock::keep_across_exec`]).
    pub fn keep_across_exec(&self) -> std::io::Result<()> {
        self.lock.keep_across_exec()
    }
}

impl Cache {
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The shared cache looked up before this root, if one is set and trusted.
    pub fn shared(&self) -> Option<&Path> {
        self.shared.as_deref()
    }

    /// A file kept whole in `bucket` (blobs, manifests; `name` may hold a `/`): the shared
    /// cache's copy if it has one, else this root's, if either is there.
    pub fn file(&self, bucket: Bucket, name: &str) -> Option<PathBuf> {
        self.roots()
            .map(|root| root.join(bucket.dir_name()).join(name))
            .find(|path| path.is_file())
    }

    /// The shared cache, then this root.
    fn roots(&self) -> impl Iterator<Item = &Path> {
        self.shared
            .as_deref()
            .into_iter()
            .chain([self.root.as_path()])
    }

    /// Whether this is the private `$TMPDIR/pyk-<uid>` fallback.
    pub fn is_temporary(&self) -> bool {
        self.temporary
    }

    pub fn bucket(&self, bucket: Bucket) -> PathBuf {
        self.root.join(bucket.dir_name())
    }

    /// The path of entry `key` (a directory in unpacked buckets, a file otherwise).
    pub fn entry(&self, bucket: Bucket, key: &str) -> PathBuf {
        self.bucket(bucket).join(key)
    }

    /// Holds entry `key` of an unpacked bucket, in the shared cache or else in this root,
    /// for as long as the lock lives, if the entry is there. Never creates or writes
    /// anything: this is the launcher's warm path.
    pub fn hold(&self, bucket: Bucket, key: &str) -> Option<Held> {
        self.roots().find_map(|root| {
            let dir = root.join(bucket.dir_name());
            let lock = EntryLock::shared(&lock_path(&dir, key)).ok()??;
            let dir = dir.join(key);
            let held = dir.is_dir().then_some(Held { dir, lock })?;
            tracing::debug!("cache: using {}", held.dir.display());
            Some(held)
        })
    }

    /// Fills entry `key` of an unpacked bucket of this root exactly once (see
    /// [`fill_dir`]) and holds it. Refused before anything is written when programs cannot
    /// run from the root (a `noexec` mount): every unpacked entry is there to be run.
    pub fn fill<E>(
        &self,
        bucket: Bucket,
        key: &str,
        fill: impl FnOnce(&Path) -> Result<(), E>,
    ) -> Result<Held, FillError<E>> {
        // A root only read so far (see `RootEnv::open` with a shared cache) is never made
        // here, where it would get none of a root's checks.
        if !self.root.is_dir() {
            return Err(FillError::Cache(CacheError::Unusable {
                path: self.root.clone(),
                source: std::io::ErrorKind::NotFound.into(),
            }));
        }
        exec::check(&self.root).map_err(FillError::Cache)?;
        let lock = fill_dir(&self.bucket(bucket), key, fill)?;
        Ok(Held {
            dir: self.entry(bucket, key),
            lock,
        })
    }
}

/// `<bucket>/<key>.lock`: the lock file of an entry.
fn lock_path(bucket_dir: &Path, key: &str) -> PathBuf {
    bucket_dir.join(format!("{key}.lock"))
}
