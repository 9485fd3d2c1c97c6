//! The registry half of a repository: packages, their immutable versions (manifests),
//! the `latest` pointer, yanked flags, local names, and every version string ever used.
//!
//! Signatures are stored, not judged: a version's [`Signature`] travels inside its
//! manifest, and the signed [`LatestPointer`] of the move that set `latest` is kept
//! beside the pointer and returned with the latest manifest. Every move of `latest`
//! goes through `pyk_protocol::api::check_pointer` (inside the move's transaction, a
//! mismatch refused as [`Refusal::mismatch`] words it), and each package keeps the
//! newest `issued` it ever accepted, even when `latest` is cleared, so that pointers
//! only go forward. A move without a pointer (an unsigned client) drops the stored one:
//! it no longer describes `latest`.
//!
//! [`Signature`]: pyk_protocol::api::Signature
//! [`Refusal::mismatch`]: crate::Refusal::mismatch

use std::collections::{BTreeMap, HashSet};

use pyk_protocol::api::{
    LatestPointer, Manifest, NextVersion, PackageSummary, PublishRequest, VersionList,
};
use pyk_protocol::{Kind, Sha256};

/// Everything a registry holds about one package: what `pyk migrate` copies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageRecord {
    /// Every version, in publish order, its yanked flag set and its signature kept (no
    /// local name).
    pub versions: Vec<Manifest>,
    pub latest: Option<String>,
    /// The signed pointer that set `latest`, if that move was signed.
    pub pointer: Option<LatestPointer>,
    /// The newest `issued` of a pointer the package accepted.
    pub floor: u64,
    pub localname: Option<String>,
    /// Every version string ever used, deleted versions' included, sorted.
    pub used: Vec<String>,
    /// When each version was last made latest (Unix seconds), for those with one on
    /// record: what retention reads. An import keeps the later of its own and this.
    pub promoted: BTreeMap<String, u64>,
}

/// A version's manifest as a store keeps it: what never changes (no yanked flag, no
/// local name, no pointer; its signature stays). What an import compares and writes.
pub fn stored_form(m: &Manifest) -> Manifest {
    Manifest {
        yanked: false,
        localname: None,
        latest: None,
        ..m.clone()
    }
}

/// What `latest` of a package resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Latest {
    Manifest(Box<Manifest>),
    /// The package exists (it has versions, or a local name) but nothing is promoted.
    Unpromoted,
    NoPackage,
}

/// What blobs a garbage collection deleted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct GcReport {
    pub blobs: u64,
    pub bytes: u64,
}

/// A registry; `E` is the error of the store holding it, which every [`Refusal`]
/// converts into.
///
/// [`Refusal`]: crate::Refusal
pub trait Registry<E>: Send + Sync {
    /// Every package that has a version, with its latest.
    fn list(&self) -> Result<Vec<PackageSummary>, E>;
    /// The manifest `latest` points at, with the signed pointer that put it there (if
    /// the move was signed) in its `latest`.
    fn current(&self, kind: Kind, name: &str) -> Result<Latest, E>;
    /// One version's manifest, yanked or not.
    fn version(&self, kind: Kind, name: &str, version: &str) -> Result<Option<Manifest>, E>;
    /// Every version of a package; `None` if there is no such package.
    fn versions(&self, kind: Kind, name: &str) -> Result<Option<VersionList>, E>;
    /// Atomically checks that the version string was never used, has `blobs_stored`
    /// confirm the blobs (under the publish lock, see [`Registry::with_references`]),
    /// records the version (its signature inside the manifest) and, if asked to, makes
    /// it the latest with the request's pointer. The request, its signatures included,
    /// is already validated.
    fn publish(
        &self,
        kind: Kind,
        name: &str,
        request: &PublishRequest,
        publisher: &str,
        now: u64,
        blobs_stored: &dyn Fn() -> Result<(), E>,
    ) -> Result<Manifest, E>;
    /// Points `latest` at an existing version that is not yanked.
    fn promote(
        &self,
        kind: Kind,
        name: &str,
        version: &str,
        pointer: Option<&LatestPointer>,
    ) -> Result<Manifest, E>;
    /// Sets or clears a version's yanked flag. Yanking the latest moves `latest` to the
    /// newest version left that is not yanked (which `pointer` must name), or to none.
    fn yank(
        &self,
        kind: Kind,
        name: &str,
        version: &str,
        yanked: bool,
        pointer: Option<&LatestPointer>,
    ) -> Result<Manifest, E>;
    /// Deletes one version; its string stays used. Refused ([`Refusal::IsLatest`])
    /// for the latest unless `force`, which moves `latest` as a yank does.
    ///
    /// [`Refusal::IsLatest`]: crate::Refusal::IsLatest
    fn delete_version(
        &self,
        kind: Kind,
        name: &str,
        version: &str,
        force: bool,
        pointer: Option<&LatestPointer>,
    ) -> Result<(), E>;
    /// The automatic version a publish would get now, and the newest `issued` of a
    /// pointer the package accepted (0 if none): what a publisher signs with.
    fn next(&self, kind: Kind, name: &str) -> Result<NextVersion, E>;
    /// Sets the package's local file name (already validated), creating the package if
    /// it has no version yet.
    fn set_localname(&self, kind: Kind, name: &str, localname: &str) -> Result<(), E>;
    /// Removes every version of a package and its local name; false if there was
    /// neither. Version strings stay used.
    fn remove(&self, kind: Kind, name: &str) -> Result<bool, E>;
    /// Runs `sweep` with every blob some version references, holding the publish lock
    /// throughout: no publish commits until it returns.
    fn with_references(
        &self,
        sweep: &mut dyn FnMut(&HashSet<Sha256>) -> Result<GcReport, E>,
    ) -> Result<GcReport, E>;
    /// Every package with a record of its own: versions, a local name, or only version
    /// strings once used.
    fn packages(&self) -> Result<Vec<(Kind, String)>, E>;
    /// Everything about one package (empty if there is no such package).
    fn export(&self, kind: Kind, name: &str) -> Result<PackageRecord, E>;
    /// Makes the package hold what `record` holds, in one change: versions it lacks
    /// are added (their manifests as they are: publish time and publisher kept), flags,
    /// `latest`, the local name and used strings are taken from `record`. Importing
    /// the same record again changes nothing. Refused ([`Refusal::VersionExists`])
    /// when a version string here names other bytes, or was used and deleted here.
    ///
    /// [`Refusal::VersionExists`]: crate::Refusal::VersionExists
    fn import(&self, kind: Kind, name: &str, record: &PackageRecord) -> Result<(), E>;
    /// A tag that changes whenever the package changes, whoever changes it (this
    /// process, another on the same database, another server on the same bucket), cheap
    /// enough to read every second: what cached answers about the package revalidate
    /// with. It may also change when other packages do (the embedded store has one
    /// for the whole registry).
    fn tag(&self, kind: Kind, name: &str) -> Result<Option<String>, E>;
}
