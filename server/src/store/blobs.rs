//! The content-addressed half of a store: blobs named by the sha256 of their plaintext,
//! kept exactly as uploaded.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::time::Duration;

use pyk_protocol::Sha256;

use super::{GcReport, Result};

/// A stored blob opened for reading.
pub struct BlobRead {
    pub len: u64,
    pub reader: Box<dyn Read + Send>,
}

/// A blob being received. It is invisible until [`StagedBlob::commit`] makes it durable
/// and visible at once; dropping it uncommitted discards it.
pub trait StagedBlob: Write + Send {
    /// Publishes the staged bytes as the blob they were staged for (the caller has
    /// checked they are). Returns true if the blob is new, false if an identical one was
    /// already stored (the staged copy is discarded; in the embedded store the stored
    /// one then counts as just uploaded for garbage collection's grace).
    fn commit(self: Box<Self>) -> Result<bool>;
}

pub trait BlobStore: Send + Sync {
    /// The stored (encrypted) length of a blob, if present.
    fn stored_len(&self, sha256: &Sha256) -> Result<Option<u64>>;
    fn read(&self, sha256: &Sha256) -> Result<Option<BlobRead>>;
    /// Starts receiving blob `sha256`. Named up front so that a store that streams to
    /// its final place (an S3 multipart upload) can start at once.
    fn stage(&self, sha256: &Sha256) -> Result<Box<dyn StagedBlob + '_>>;
    /// Deletes the blobs not in `keep` that were last uploaded longer than `grace` ago,
    /// and staged uploads as old. A blob committed while this runs survives it.
    fn sweep(&self, keep: &HashSet<Sha256>, grace: Duration) -> Result<GcReport>;
}
