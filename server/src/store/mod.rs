//! Where packages live. The HTTP layer sees only [`Store`], so a backend shared by
//! several server instances (S3-compatible) can replace the embedded one.
//!
//! The trait is synchronous on purpose: SQLite and file I/O block anyway, and the HTTP
//! layer calls it on tokio's blocking pool. Blob bytes are opaque here: they are stored
//! exactly as uploaded (encrypted); checking them is the caller's job.

use std::io::{Read, Write};
use std::time::Duration;

use crate::api::{Kind, Manifest, PackageSummary, PublishRequest};

pub mod embedded;

pub use embedded::EmbeddedStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A publish names a blob that is not stored (or not with that size).
    #[error("blob {0} is not on the server; upload it first")]
    MissingBlob(String),
    #[error("storage I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("database: {0}")]
    Db(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

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
    /// The latest version of every package.
    fn list(&self) -> Result<Vec<PackageSummary>>;
    /// The latest version of one package.
    fn current(&self, kind: Kind, name: &str) -> Result<Option<Manifest>>;
    /// Atomically checks that every blob is stored with the encrypted length its
    /// plaintext size implies, assigns the next version, records it and makes it the
    /// latest.
    fn publish(
        &self,
        kind: Kind,
        name: &str,
        request: &PublishRequest,
        publisher: &str,
        now: u64,
    ) -> Result<Manifest>;
    /// Removes every version of a package; false if there was none.
    fn remove(&self, kind: Kind, name: &str) -> Result<bool>;
    /// Deletes blobs no version references that are older than `grace` (so a blob just
    /// uploaded for a publish still in flight survives), and stale temporary files.
    fn collect_garbage(&self, grace: Duration) -> Result<GcReport>;
}
