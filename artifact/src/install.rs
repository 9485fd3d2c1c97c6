//! Putting a layer into its cache bucket exactly once, verified; and holding, or making,
//! every entry a program runs from.
//!
//! The layer is unpacked into the entry's work directory while a second thread hashes the
//! compressed bytes; the entry is renamed into place only if the hash is the trailer's and
//! the layer stayed within its declared size and entry count (see `pyk_cache::fill_dir`
//! for the locking and the renaming). A program with units runs from their view
//! (`crate::view`), a cache entry of its own made once from the units, which are unpacked
//! once per machine whatever the number of apps and versions sharing them.

use std::path::Path;

use pyk_cache::{Bucket, Cache, FillError, Held};
use pyk_protocol::Sha256;

use crate::extract::{self, ExtractError, Limits};
use crate::launch::Layers;
use crate::trailer::{Layer, Role, Trailer};
use crate::{side_by_side, view};

/// Why a layer could not be installed: the cache (callers may try another root) or the
/// layer itself.
pub type InstallError = FillError<ExtractError>;

/// The bucket a layer of `role` unpacks into.
pub fn bucket(role: Role) -> Bucket {
    match role {
        Role::Runtime => Bucket::Runtimes,
        Role::Deps => Bucket::Deps,
        Role::App => Bucket::Apps,
        Role::Unit => Bucket::Units,
    }
}

/// The entries one program runs from, held (shared locks) while this value lives.
#[derive(Debug)]
pub struct Program {
    /// `None` for a library, which an importing Python runs.
    pub runtime: Option<Held>,
    /// Its site-packages: the deps layer's entry, or the view of its units.
    pub deps: Option<Held>,
    pub app: Held,
}

impl Program {
    /// The entries as the exec contract takes them (`None` without a runtime).
    pub fn layers(&self) -> Option<Layers<'_>> {
        Some(Layers {
            runtime: self.runtime.as_ref()?.dir(),
            deps: self.deps.as_ref().map(Held::dir),
            app: self.app.dir(),
        })
    }

    /// Lets every hold outlive an exec.
    pub fn keep_across_exec(&self) -> std::io::Result<()> {
        [&self.runtime, &self.deps]
            .into_iter()
            .flatten()
            .chain([&self.app])
            .try_for_each(Held::keep_across_exec)
    }
}

/// Holds every entry `trailer` runs from, if all are there (the shared cache's first),
/// writing nothing: the launcher's warm path.
pub fn hold(cache: &Cache, trailer: &Trailer, runtime: bool) -> Option<Program> {
    let deps = match trailer.view_key() {
        Some(key) => Some(cache.hold(Bucket::Views, &key)?),
        None => match trailer.layer(Role::Deps) {
            Some(deps) => Some(cache.hold(Bucket::Deps, &deps.key())?),
            None => None,
        },
    };
    let entry = |role| {
        let layer = trailer.layer(role)?;
        cache.hold(bucket(role), &layer.key())
    };
    Some(Program {
        runtime: match runtime {
            true => Some(entry(Role::Runtime)?),
            false => None,
        },
        deps,
        app: entry(Role::App)?,
    })
}

/// Holds every entry `trailer` runs from, unpacking the layers no process has unpacked
/// and assembling the view of its units if it is not made: `bytes` is asked for a layer's
/// compressed bytes only then, under the entry's lock. The units of a view already made
/// are not touched.
pub fn install_program<B, E>(
    cache: &Cache,
    trailer: &Trailer,
    runtime: bool,
    bytes: impl Fn(&Layer) -> Result<B, E> + Sync,
) -> Result<Program, FillError<E>>
where
    B: AsRef<[u8]>,
    E: From<ExtractError> + Send,
{
    let install = |role| {
        trailer
            .layer(role)
            .map(|layer| install_with(cache, layer, || bytes(layer)))
            .transpose()
    };
    let runtime_held = match runtime {
        true => install(Role::Runtime)?,
        false => None,
    };
    let deps = match trailer.view_key() {
        Some(key) => Some(match cache.hold(Bucket::Views, &key) {
            Some(held) => held,
            None => {
                let units: Vec<&Layer> = trailer.units().collect();
                let held = install_units(cache, &units, &bytes)?;
                cache.fill(Bucket::Views, &key, |work| {
                    let dirs: Vec<(&Layer, &Path)> = units
                        .iter()
                        .zip(&held)
                        .map(|(l, h)| (*l, h.dir()))
                        .collect();
                    view::assemble(&dirs, work).map_err(|e| E::from(ExtractError::View(e)))
                })?
            }
        }),
        // An artifact from before units: its one deps layer, if it has dependencies.
        None => install(Role::Deps)?,
    };
    let app = install(Role::App)?;
    Ok(Program {
        runtime: runtime_held,
        deps,
        app: app.expect("a decoded trailer has an app layer"),
    })
}

/// Holds every unit's entry, in order, unpacking the missing ones side by side (each
/// under its own lock, so a unit another process is unpacking is waited for, not
/// unpacked twice).
fn install_units<B, E>(
    cache: &Cache,
    units: &[&Layer],
    bytes: &(impl Fn(&Layer) -> Result<B, E> + Sync),
) -> Result<Vec<Held>, FillError<E>>
where
    B: AsRef<[u8]>,
    E: From<ExtractError> + Send,
{
    side_by_side::map(units, |unit| install_with(cache, unit, || bytes(unit)))
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
    let (unpacked, actual) = side_by_side::both(
        || Sha256::of(bytes),
        || extract::extract(bytes, work, limits),
    );
    // A corrupt layer usually fails to unpack too: report the cause, not the symptom.
    if actual != layer.sha256 {
        return Err(ExtractError::Corrupt {
            role: layer.role.as_str(),
            expected: layer.key(),
            actual: actual.to_string(),
        });
    }
    unpacked.map(drop)
}
