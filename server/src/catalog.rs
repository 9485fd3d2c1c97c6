//! The current manifests, cached in memory in front of the [`Store`]: every runner asks
//! for its package's manifest before each run, so that answer must cost no database
//! work. Writes made through this process update the cache and wake long-polls.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use axum::http::HeaderValue;
use bytes::Bytes;
use tokio::sync::watch;

use crate::api::{Kind, Manifest, PublishRequest};
use crate::store::{self, Store, StoreError};

/// Past this many cached entries (most would be lookups of absent names) the cache
/// starts over rather than grow without bound.
const MAX_ENTRIES: usize = 100_000;

/// A latest manifest, ready to send.
pub struct Current {
    pub version: String,
    /// `"<artifact_sha256>.<version>"`, quotes included.
    pub etag: HeaderValue,
    pub json: Bytes,
}

impl Current {
    fn new(manifest: &Manifest) -> store::Result<Current> {
        let json = serde_json::to_vec(manifest).map_err(|e| StoreError::Db(e.to_string()))?;
        let etag = HeaderValue::try_from(format!(
            "\"{}.{}\"",
            manifest.artifact_sha256, manifest.version
        ))
        .map_err(|e| StoreError::Db(format!("manifest makes no valid ETag: {e}")))?;
        Ok(Current {
            version: manifest.version.clone(),
            etag,
            json: Bytes::from(json),
        })
    }
}

type Entry = Option<Arc<Current>>;

/// One map per kind, so a lookup borrows the name instead of allocating a key.
type Cache = [HashMap<String, Entry>; 2];

fn slot(kind: Kind) -> usize {
    match kind {
        Kind::Run => 0,
        Kind::Lib => 1,
    }
}

pub struct Catalog {
    store: Arc<dyn Store>,
    cache: RwLock<Cache>,
    /// Bumped by every write, so a lookup that read the store before a write cannot put
    /// its stale answer in the cache after the write's fresh one.
    generation: AtomicU64,
    changes: watch::Sender<u64>,
}

impl Catalog {
    pub fn new(store: Arc<dyn Store>) -> Catalog {
        Catalog {
            store,
            cache: RwLock::new(Default::default()),
            generation: AtomicU64::new(0),
            changes: watch::Sender::new(0),
        }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// A receiver that sees every later write.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    pub async fn current(&self, kind: Kind, name: &str) -> store::Result<Entry> {
        if let Some(entry) = self.read_cache()[slot(kind)].get(name) {
            return Ok(entry.clone());
        }
        let generation = self.generation.load(Ordering::Acquire);
        let store = self.store.clone();
        let owned = name.to_owned();
        let manifest = blocking(move || store.current(kind, &owned)).await?;
        let entry = manifest
            .as_ref()
            .map(Current::new)
            .transpose()?
            .map(Arc::new);
        let mut cache = self.write_cache();
        if self.generation.load(Ordering::Acquire) == generation {
            let map = &mut cache[slot(kind)];
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
            map.insert(name.to_owned(), entry.clone());
        }
        Ok(entry)
    }

    pub async fn publish(
        &self,
        kind: Kind,
        name: &str,
        request: PublishRequest,
        publisher: String,
        now: u64,
    ) -> store::Result<Manifest> {
        let store = self.store.clone();
        let owned = name.to_owned();
        let manifest =
            blocking(move || store.publish(kind, &owned, &request, &publisher, now)).await?;
        self.changed(kind, name);
        Ok(manifest)
    }

    pub async fn remove(&self, kind: Kind, name: &str) -> store::Result<bool> {
        let store = self.store.clone();
        let owned = name.to_owned();
        let removed = blocking(move || store.remove(kind, &owned)).await?;
        self.changed(kind, name);
        Ok(removed)
    }

    /// Drops the cached answer rather than storing the writer's: two publishes may
    /// commit in one order and get here in the other, and only the store knows which
    /// is the latest.
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
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Io(std::io::Error::other(format!("store task failed: {e}"))))?
}
