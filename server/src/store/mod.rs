//! Where packages live. The HTTP layer sees only [`Store`], so a backend shared by
//! several server instances (S3-compatible) can replace the embedded one.
//!
//! The trait is synchronous on purpose: SQLite and file I/O block anyway, and the HTTP
//! layer calls it on tokio's blocking pool. Blob bytes are opaque here: they are stored
//! exactly as uploaded (encrypted); checking them is the caller's job.

use std::io::{Read, Write};
use std::time::Duration;

use pyk_protocol::api::{Manifest, PackageSummary, PublishRequest, VersionList};
use pyk_protocol::Kind;

pub mod embedded;

pub use embedded::EmbeddedStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A publish names a blob that is not stored (or not with that size).
    #[error("blob {0} is not on the server; upload it first")]
    MissingBlob(String),
    /// The package (`"run foo"`) has no version of that name (now).
    #[error("{package} has no version {version}")]
    NoVersion { package: String, version: String },
    /// A publish reuses a version string: versions are immutable, so a string once used
    /// (even by a version since deleted) can never name other bytes.
    #[error("version {version} of {package} already exists")]
    VersionExists { package: String, version: String },
    /// A promote of a yanked version.
    #[error("version {version} of {package} is yanked; unyank it before promoting it")]
    Yanked { package: String, version: String },
    /// A delete of the version `latest` points at, without `force`.
    #[error(
        "version {version} is the latest of {package}; promote another first, or force \
         the delete (latest then moves to the newest version not yanked)"
    )]
    IsLatest { package: String, version: String },
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("database: {0}")]
    Db(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// How a package is named in messages: `run foo`.
pub fn label(kind: Kind, name: &str) -> String {
    format!("{} {name}", kind.as_str())
}

/// What `latest` of a package resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Latest {
    Manifest(Box<Manifest>),
    /// The package exists (it has versions, or a local name) but nothing is promoted.
    Unpromoted,
    NoPackage,
}

/// A stored blob opened for reading.
pub struct BlobRead {
    pub len: u64,
    pub reader: Box<dyn Read + Send>,
}

/// A blob being received. It is invisible until [`StagedBlob::commit`] makes it durable
/// and visible at once; dropping it uncommitted discards it.
pub trait StagedBlob: Write + Send {
    /// Publishes the staged bytes as blob `sha256`. Returns true if the blob is new,
    /// false if an identical one was already stored (the staged copy is discarded).
    fn commit(self: Box<Self>, sha256: &str) -> Result<bool>;
}

/// What garbage collection removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct GcReport {
    pub blobs: u64,
    pub bytes: u64,
}

pub trait Store: Send + Sync {
    /// The stored (encrypted) length of a blob, if present.
    fn blob_len(&self, sha256: &str) -> Result<Option<u64>>;
    fn read_blob(&self, sha256: &str) -> Result<Option<BlobRead>>;
    fn stage_blob(&self) -> Result<Box<dyn StagedBlob + '_>>;
    /// Every package that has a version, with its latest.
    fn list(&self) -> Result<Vec<PackageSummary>>;
    /// The manifest `latest` points at.
    fn current(&self, kind: Kind, name: &str) -> Result<Latest>;
    /// One version's manifest, yanked or not.
    fn version(&self, kind: Kind, name: &str, version: &str) -> Result<Option<Manifest>>;
    /// Every version of a package; `None` if there is no such package.
    fn versions(&self, kind: Kind, name: &str) -> Result<Option<VersionList>>;
    /// Atomically checks that every blob is stored with the encrypted length its
    /// plaintext size implies, that the version string was never used, records the
    /// version and, if asked to, makes it the latest. The request is already validated.
    fn publish(
        &self,
        kind: Kind,
        name: &str,
        request: &PublishRequest,
        publisher: &str,
        now: u64,
    ) -> Result<Manifest>;
    /// Points `latest` at an existing version that is not yanked.
    fn promote(&self, kind: Kind, name: &str, version: &str) -> Result<Manifest>;
    /// Sets or clears a version's yanked flag. Yanking the latest moves `latest` to the
    /// newest version left that is not yanked, or to none.
    fn yank(&self, kind: Kind, name: &str, version: &str, yanked: bool) -> Result<Manifest>;
    /// Deletes one version; its string stays used. Refused ([`StoreError::IsLatest`])
    /// for the latest unless `force`, which moves `latest` as a yank does.
    fn delete_version(&self, kind: Kind, name: &str, version: &str, force: bool) -> Result<()>;
    /// Sets the package's local file name (already validated), creating the package if
    /// it has no version yet.
    fn set_localname(&self, kind: Kind, name: &str, localname: &str) -> Result<()>;
    /// Removes every version of a package and its local name; false if there was
    /// neither. Version strings stay used.
    fn remove(&self, kind: Kind, name: &str) -> Result<bool>;
    /// Deletes blobs no version references that are older than `grace` (so a blob just
    /// uploaded for a publish still in flight survives), and stale temporary files.
    fn collect_garbage(&self, grace: Duration) -> Result<GcReport>;
}
