//! What the CLI reads from the environment for the runtime store (the libraries take
//! values: `pyk_runtime_fetch` never reads the environment itself).

use pyk_cache::Cache;
use pyk_runtime_fetch::{fetch_pbs_release, FetchError, Layer, LayerStore, PythonRequest};
use pyk_static::EnvVars;

use crate::output::Progress;

/// `PYK_ZSTD_LEVEL`, if set to a number.
pub fn zstd_level() -> Option<i32> {
    std::env::var(EnvVars::PYK_ZSTD_LEVEL)
        .ok()
        .and_then(|v| v.trim().parse().ok())
}

/// The runtime layer store of `cache`, at the zstd level `PYK_ZSTD_LEVEL` asks for.
pub fn layer_store(cache: &Cache) -> LayerStore {
    let store = LayerStore::open(cache.root());
    match zstd_level() {
        Some(level) => store.with_zstd_level(level),
        None => store,
    }
}

/// Fetches a python-build-standalone runtime built for `triple`, from the release
/// `PYK_PBS_RELEASE` names if it is set.
pub fn fetch_pbs(
    store: &LayerStore,
    req: &PythonRequest,
    mirror: Option<&str>,
    triple: &'static str,
    progress: &Progress,
) -> Result<Layer, FetchError> {
    let release = std::env::var(EnvVars::PYK_PBS_RELEASE)
        .ok()
        .filter(|r| !r.is_empty());
    fetch_pbs_release(store, req, mirror, release.as_deref(), triple, progress)
}
