//! The content-addressed half of a store: blobs named by the sha256 of their plaintext,
//! kept exactly as uploaded.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::time::Duration;

use pyk_protocol::Sha256;

use super::{GcReport, Result};

/// What a store says about a stored blob without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobStat {
    /// The stored (encrypted) length.
    pub len: u64,
    /// Changes whenever the stored bytes may have (a file's inode, mtime and ctime; an
    /// object's ETag): a blob verified under one stamp is known whole while it holds.
    pub stamp: String,
}

/// A stored blob opened for reading.
pub struct BlobRead {
    pub len: u64,
    pub reader: Box<dyn Read + Send>,
}

/// A blob being received. It is invisible until [`StagedBlob::commit`] makes it durable
/// and visible at once; dropping it uncommitted discards it.
pub trait StagedBlob: Write + Send {
    /// Publishes the staged bytes, which the caller verified, as the blob they were
    /// staged for. Returns true if the blob is new, false if one was already stored:
    /// the staged bytes then replace it (the stored copy may be damaged; these are known
    /// whole), which also restarts garbage collection's grace for it.
    fn commit(self: Box<Self>) -> Result<bool>;
}

pub trait BlobStore: Send + Sync {
    /// The stored blob's length and change stamp, if present.
    fn stat(&self, sha256: &Sha256) -> Result<Option<BlobStat>>;
    /// The stored (encrypted) length of a blob, if present.
    fn stored_len(&self, sha256: &Sha256) -> Result<Option<u64>> {
        Ok(self.stat(sha256)?.map(|s| s.len))
    }
    fn read(&self, sha256: &Sha256) -> Result<Option<BlobRead>>;
    /// Starts receiving blob `sha256`. Named up front so that a store that streams to
    /// its final place (an S3 multipart upload) can start at once.
    fn stage(&self, sha256: &Sha256) -> Result<Box<dyn StagedBlob + '_>>;
    /// Deletes the blobs not in `keep` that were last uploaded longer than `grace` ago,
    /// and staged uploads as old. A blob committed while this runs survives it.
    fn sweep(&self, keep: &HashSet<Sha256>, grace: Duration) -> Result<GcReport>;
    /// Fails if the store cannot be reached or used now (what `/healthz` reports);
    /// cheap: it reads no blob.
    fn check(&self) -> Result<()>;
}
