//! Putting a layer into its cache bucket exactly once, verified.
//!
//! The layer is unpacked into the entry's work directory while a second thread hashes the
//! compressed bytes; the entry is renamed into place only if the hash is the trailer's and
//! the layer stayed within its declared size and entry count (see `pyk_cache::fill_dir`
//! for the locking and the renaming).

use std::path::Path;

use pyk_cache::{Bucket, Cache, FillError, Held};
use pyk_protocol::Sha256;

use crate::extract::{self, ExtractError, Limits};
use crate::trailer::{Layer, Role};

/// Why a layer could not be installed: the cache (callers may try another root) or the
/// layer itself.
pub type InstallError = FillError<ExtractError>;

/// The bucket a layer of `role` unpacks into.
pub fn bucket(role: Role) -> Bucket {
    match role {
        Role::Runtime => Bucket::Runtimes,
        Role::Deps => Bucket::Deps,
        Role::App => Bucket::Apps,
    }
}

/// Holds `layer`'s entry (in the shared cache, if it has it), unpacking `bytes` (the
/// compressed layer) first if no process has.
pub fn install(cache: &Cache, layer: &Layer, bytes: &[u8]) -> Result<Held, InstallError> {
    install_with(cache, layer, || Ok::<_, ExtractError>(bytes))
}

/// Holds `layer`'s entry, asking `bytes` for the compressed layer only if no process has
/// unpacked it, and only once this process holds the entry's exclusive lock: a hundred
/// processes starting the same program fetch a missing layer once, not a hundred times.
pub fn install_with<B, E>(
    cache: &Cache,
    layer: &Layer,
    bytes: impl FnOnce() -> Result<B, E>,
) -> Result<Held, FillError<E>>
where
    B: AsRef<[u8]>,
    E: From<ExtractError>,
{
    let bucket = bucket(layer.role);
    let key = layer.key();
    if let Some(held) = cache.hold(bucket, &key) {
        return Ok(held);
    }
    cache.fill(bucket, &key, |work| {
        let bytes = bytes()?;
        unpack(layer, bytes.as_ref(), work).map_err(E::from)
    })
}

/// Unpacks `bytes` into `work` while a second thread hashes them; a hash other than the
/// trailer's fails, whatever the unpacking did.
fn unpack(layer: &Layer, bytes: &[u8], work: &Path) -> Result<(), ExtractError> {
    let limits = Limits {
        size: layer.size,
        files: layer.files,
    };
    let (actual, unpacked) = std::thread::scope(|s| {
        let hasher = s.spawn(|| Sha256::of(bytes));
        let unpacked = extract::extract(bytes, work, limits);
        (hasher.join(), unpacked)
    });
    // A corrupt layer usually fails to unpack too: report the cause, not the symptom.
    match actual {
        Ok(actual) if actual == layer.sha256 => unpacked.map(drop),
        other => Err(ExtractError::Corrupt {
            role: layer.role.as_str(),
            expected: layer.key(),
            actual: other.map_or_else(|_| "unknown".into(), |a| a.to_string()),
        }),
    }
}
