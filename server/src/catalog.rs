//! Manifests cached in memory in front of the registry: every runner asks for its
//! package's latest manifest before each run (and a pinned one for its version), so
//! those answers must cost no store work.
//!
//! Writes made through this process drop the package's cached answers and wake
//! long-polls at once. Writes made by anyone else (another process on the same registry
//! database, another server on the same bucket) are noticed by revalidation: answers
//! about a package older than [`REVALIDATE`] are checked against the registry's tag for
//! it ([`Registry::tag`]: SQLite's `data_version`, or the ETag of the package's index
//! object, one HEAD) before they are used, by one request at a time while the others
//! go on using them. A write made elsewhere therefore shows within `REVALIDATE` plus
//! one tag read; long-polls look again at the same pace.
//!
//! [`Registry::tag`]: crate::store::Registry::tag

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::http::HeaderValue;
use bytes::Bytes;
use pyk_protocol::api::{LatestPointer, Manifest, NextVersion, PublishRequest, VersionList};
use pyk_protocol::Kind;
use tokio::sync::watch;

use crate::log;
use crate::store::{self, Latest, Store, StoreError};

/// How old a cached answer may be before it is revalidated: the bound on how long it
/// can miss a write made by another process or server. At most one tag read per
/// package a second.
pub const REVALIDATE: Duration = Duration::from_secs(1);

/// Past this many cached packages (most would be lookups of absent names) the cache
/// starts over rather than grow without bound.
const MAX_ENTRIES: usize = 100_000;

/// A manifest, ready to send.
pub struct Current {
    pub version: String,
    pub yanked: bool,
    /// `"<artifact_sha256>.<version>"`, quotes included: it names the bytes, which a
    /// version never changes.
    pub etag: HeaderValue,
    pub json: Bytes,
}

impl Current {
    fn new(manifest: &Manifest) -> store::Result<Arc<Current>> {
        let json = serde_json::to_vec(manifest)?;
        // Both halves are checked strings (a digest, a version), so always a valid
        // header value; a stored manifest that is not gets a 500, not a panic.
        let etag = HeaderValue::try_from(manifest.etag())
            .map_err(|e| StoreError::Io(std::io::Error::other(e)))?;
        Ok(Arc::new(Current {
            version: manifest.version.clone(),
            yanked: manifest.yanked,
            etag,
            json: Bytes::from(json),
        }))
    }
}

/// What `latest` of a package resolves to, ready to send.
#[derive(Clone)]
pub enum Resolved {
    Current(Arc<Current>),
    /// The package exists but nothing is promoted.
    Unpromoted,
    NoPackage,
}

/// What is cached of one package. Versions are immutable, so a version's entry stays
/// valid until a write to its package (a yank, a delete, a new local name) drops the
/// whole entry. Only versions that exist are cached: absent ones cost a query, so that
/// guessing version strings cannot grow the cache.
struct Package {
    latest: Option<Resolved>,
    versions: HashMap<String, Arc<Current>>,
    /// The registry's tag for the package when these answers were read.
    tag: Option<String>,
    /// When the tag was last confirmed (or a confirmation started).
    checked: Instant,
}

impl Package {
    fn new(tag: Option<String>) -> Package {
        Package {
            latest: None,
            versions: HashMap::new(),
            tag,
            checked: Instant::now(),
        }
    }
}

/// One map per kind, so a lookup borrows the name instead of allocating a key.
type Cache = [HashMap<String, Package>; 2];

fn slot(kind: Kind) -> usize {
    match kind {
        Kind::Run => 0,
        Kind::Lib => 1,
    }
}

pub struct Catalog {
    store: Arc<Store>,
    cache: RwLock<Cache>,
    /// Bumped by every write (and every write noticed elsewhere), so a lookup that read
    /// the store before a write cannot put its stale answer in the cache after the
    /// write's fresh one.
    generation: AtomicU64,
    changes: watch::Sender<u64>,
}

impl Catalog {
    pub fn new(store: Arc<Store>) -> Catalog {
        Catalog {
            store,
            cache: RwLock::new(Default::default()),
            generation: AtomicU64::new(0),
            changes: watch::Sender::new(0),
        }
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// A receiver that sees every later write.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// The manifest `latest` points at.
    pub async fn current(&self, kind: Kind, name: &str) -> store::Result<Resolved> {
        if let Some(latest) = self.cached(kind, name, |p| p.latest.clone()).await? {
            return Ok(latest);
        }
        let generation = self.generation.load(Ordering::Acquire);
        let store = self.store.clone();
        let owned = name.to_owned();
        let (tag, latest) = blocking(move || {
            let registry = store.registry();
            // The tag first: a write landing between the two reads then shows as a
            // change at the next revalidation, never as a stale answer kept.
            Ok((registry.tag(kind, &owned)?, registry.current(kind, &owned)?))
        })
        .await?;
        let resolved = match latest {
            Latest::Manifest(m) => Resolved::Current(Current::new(&m)?),
            Latest::Unpromoted => Resolved::Unpromoted,
            Latest::NoPackage => Resolved::NoPackage,
        };
        self.fill(generation, kind, name, tag, |p| {
            p.latest = Some(resolved.clone())
        });
        Ok(resolved)
    }

    /// One version's manifest, yanked or not.
    pub async fn version(
        &self,
        kind: Kind,
        name: &str,
        version: &str,
    ) -> store::Result<Option<Arc<Current>>> {
        if let Some(found) = self
            .cached(kind, name, |p| p.versions.get(version).cloned())
            .await?
        {
            return Ok(Some(found));
        }
        let generation = self.generation.load(Ordering::Acquire);
        let store = self.store.clone();
        let (owned, wanted) = (name.to_owned(), version.to_owned());
        let (tag, manifest) = blocking(move || {
            let registry = store.registry();
            Ok((
                registry.tag(kind, &owned)?,
                registry.version(kind, &owned, &wanted)?,
            ))
        })
        .await?;
        let Some(manifest) = manifest else {
            return Ok(None);
        };
        let current = Current::new(&manifest)?;
        self.fill(generation, kind, name, tag, |p| {
            p.versions.insert(version.to_owned(), current.clone());
        });
        Ok(Some(current))
    }

    /// What `pick` finds cached about a package. Answers older than [`REVALIDATE`] are
    /// first checked against the registry's tag: one lookup does that while the others
    /// go on with the cached answer; if the package changed, its answers are dropped
    /// (and long-polls woken). When the tag cannot be read (the store unreachable), the
    /// cached answer serves until the next revalidation.
    async fn cached<T>(
        &self,
        kind: Kind,
        name: &str,
        pick: impl Fn(&Package) -> Option<T>,
    ) -> store::Result<Option<T>> {
        let known = {
            let cache = self.read_cache();
            let Some(p) = cache[slot(kind)].get(name) else {
                return Ok(None);
            };
            let Some(found) = pick(p) else {
                return Ok(None);
            };
            if p.checked.elapsed() < REVALIDATE {
                return Ok(Some(found));
            }
            p.tag.clone()
        };
        {
            let mut cache = self.write_cache();
            match cache[slot(kind)].get_mut(name) {
                Some(p) if p.checked.elapsed() >= REVALIDATE => p.checked = Instant::now(),
                Some(p) => return Ok(pick(p)),
                None => return Ok(None),
            }
        }
        let store = self.store.clone();
        let owned = name.to_owned();
        match blocking(move || store.registry().tag(kind, &owned)).await {
            Ok(tag) if tag == known => {}
            Ok(_) => {
                self.changed(kind, name);
                return Ok(None);
            }
            Err(e) => log::warning(format_args!(
                "cannot revalidate {}: {}; serving the cached answer",
                store::label(kind, name),
                log::with_causes(&e)
            )),
        }
        Ok(self.read_cache()[slot(kind)].get(name).and_then(pick))
    }

    /// Not cached: listing versions is a human's (or a CI job's) question, not a
    /// runner's.
    pub async fn versions(&self, kind: Kind, name: &str) -> store::Result<Option<VersionList>> {
        let store = self.store.clone();
        let owned = name.to_owned();
        blocking(move || store.registry().versions(kind, &owned)).await
    }

    pub async fn publish(
        &self,
        kind: Kind,
        name: &str,
        request: PublishRequest,
        publisher: String,
        now: u64,
    ) -> store::Result<Manifest> {
        self.write(kind, name, move |store, name| {
            store.publish(kind, name, &request, &publisher, now)
        })
        .await
    }

    pub async fn promote(
        &self,
        kind: Kind,
        name: &str,
        version: String,
        pointer: Option<LatestPointer>,
    ) -> store::Result<Manifest> {
        self.write(kind, name, move |store, name| {
            store
                .registry()
                .promote(kind, name, &version, pointer.as_ref())
        })
        .await
    }

    pub async fn yank(
        &self,
        kind: Kind,
        name: &str,
        version: String,
        yanked: bool,
        pointer: Option<LatestPointer>,
    ) -> store::Result<Manifest> {
        self.write(kind, name, move |store, name| {
            store
                .registry()
                .yank(kind, name, &version, yanked, pointer.as_ref())
        })
        .await
    }

    pub async fn delete_version(
        &self,
        kind: Kind,
        name: &str,
        version: String,
        force: bool,
        pointer: Option<LatestPointer>,
    ) -> store::Result<()> {
        self.write(kind, name, move |store, name| {
            store
                .registry()
                .delete_version(kind, name, &version, force, pointer.as_ref())
        })
        .await
    }

    /// Not cached: asked once per signed change.
    pub async fn next(&self, kind: Kind, name: &str) -> store::Result<NextVersion> {
        let store = self.store.clone();
        let owned = name.to_owned();
        blocking(move || store.registry().next(kind, &owned)).await
    }

    pub async fn set_localname(
        &self,
        kind: Kind,
        name: &str,
        localname: String,
    ) -> store::Result<()> {
        self.write(kind, name, move |store, name| {
            store.registry().set_localname(kind, name, &localname)
        })
        .await
    }

    pub async fn remove(&self, kind: Kind, name: &str) -> store::Result<bool> {
        self.write(kind, name, move |store, name| {
            store.registry().remove(kind, name)
        })
        .await
    }

    /// Runs a write to one package, then drops its cached answers and wakes watchers,
    /// whether or not the write succeeded: a failure may come after a commit (a lost
    /// connection to a shared store), and a needless refill costs one query.
    async fn write<T: Send + 'static>(
        &self,
        kind: Kind,
        name: &str,
        f: impl FnOnce(&Store, &str) -> store::Result<T> + Send + 'static,
    ) -> store::Result<T> {
        let store = self.store.clone();
        let owned = name.to_owned();
        let result = blocking(move || f(&store, &owned)).await;
        self.changed(kind, name);
        result
    }

    /// Caches what a lookup found (read under `tag`), unless a write came in since it
    /// started. Answers cached under another tag are older: they go.
    fn fill(
        &self,
        generation: u64,
        kind: Kind,
        name: &str,
        tag: Option<String>,
        f: impl FnOnce(&mut Package),
    ) {
        let mut cache = self.write_cache();
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        let map = &mut cache[slot(kind)];
        if map.len() >= MAX_ENTRIES && !map.contains_key(name) {
            map.clear();
        }
        let package = map
            .entry(name.to_owned())
            .or_insert_with(|| Package::new(tag.clone()));
        if package.tag != tag {
            *package = Package::new(tag);
        }
        f(package);
    }

    /// Drops the cached answers rather than storing the writer's: two writes may
    /// commit in one order and get here in the other, and only the store knows which
    /// came last.
    fn changed(&self, kind: Kind, name: &str) {
        {
            let mut cache = self.write_cache();
            self.generation.fetch_add(1, Ordering::AcqRel);
            cache[slot(kind)].remove(name);
        }
        self.changes.send_modify(|n| *n += 1);
    }

    fn read_cache(&self) -> std::sync::RwLockReadGuard<'_, Cache> {
        // The map is valid after any panic (inserts are single calls), so poison is moot.
        self.cache.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_cache(&self) -> std::sync::RwLockWriteGuard<'_, Cache> {
        self.cache.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// Runs store work on the blocking pool.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> store::Result<T> + Send + 'static,
) -> store::Result<T> {
    tokio::task::spawn_blocking(f).await?
}
