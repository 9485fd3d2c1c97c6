//! Blobs as objects: reads stream (resuming by `Range`), uploads stream up in parts
//! straight to their final key and appear only when committed.

use std::collections::HashSet;
use std::io::{self, Write};
use std::sync::Arc;
use std::time::Duration;

use pyk_protocol::Sha256;
use pyk_s3::repo::{BlobUpload, Repo};

use crate::store::{BlobRead, BlobStat, BlobStore, GcReport, Result, StagedBlob};

pub struct S3Blobs(pub Arc<Repo>);

impl BlobStore for S3Blobs {
    /// The object's ETag is its change stamp: an upload (a replacement too) changes it.
    fn stat(&self, sha256: &Sha256) -> Result<Option<BlobStat>> {
        Ok(self.0.blob_info(sha256)?.map(|info| BlobStat {
            len: info.len,
            stamp: info.etag,
        }))
    }

    fn read(&self, sha256: &Sha256) -> Result<Option<BlobRead>> {
        Ok(self.0.open_blob(sha256)?.map(|download| BlobRead {
            len: download.info().len,
            reader: Box::new(download),
        }))
    }

    fn stage(&self, sha256: &Sha256) -> Result<Box<dyn StagedBlob + '_>> {
        Ok(Box::new(Staged(self.0.upload_blob(sha256))))
    }

    /// The registry's HEAD reaches the same bucket: nothing more to ask.
    fn check(&self) -> Result<()> {
        Ok(())
    }

    /// Also rereads the manifests written within `grace` right before deleting, and
    /// drops long-expired nonces (see `pyk_s3::repo`'s gc).
    fn sweep(&self, keep: &HashSet<Sha256>, grace: Duration) -> Result<GcReport> {
        let r = self.0.sweep(keep, grace)?;
        Ok(GcReport {
            blobs: r.blobs,
            bytes: r.bytes,
        })
    }
}

struct Staged(BlobUpload);

impl Write for Staged {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl StagedBlob for Staged {
    fn commit(self: Box<Self>) -> Result<bool> {
        Ok(self.0.commit()?)
    }
}
