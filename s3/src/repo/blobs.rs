//! Blob objects: `blobs/<sha256>`, the encrypted bytes exactly as uploaded.
//!
//! A server receives a blob of unknown length (the request body streams), so it goes
//! up as a multipart upload straight to its final key: parts of [`PART`] bytes upload
//! in the background while the next fills (two parts in memory at most), and the blob
//! appears only when [`BlobUpload::commit`] completes the upload, after the server has
//! verified every byte. A blob smaller than one part is written with one PUT.
//! A second upload of a stored blob replaces it (the stored copy may be damaged; the
//! new one was just verified whole); content-addressing makes that harmless.

use std::io::{self, Read, Write};
use std::thread::JoinHandle;

use pyk_protocol::Sha256;

use super::{Repo, Result};
use crate::{Bucket, Condition, Download, Multipart, ObjectInfo};

/// The part size of a streamed blob upload: above S3's 5 MiB minimum, small enough
/// that two in memory per upload cost little.
pub const PART: usize = 8 << 20;

impl Repo {
    /// A blob's stored (encrypted) length, if it is stored.
    pub fn blob_len(&self, sha256: &Sha256) -> Result<Option<u64>> {
        Ok(self.blob_info(sha256)?.map(|i| i.len))
    }

    /// A blob's stored length and ETag, if it is stored.
    pub fn blob_info(&self, sha256: &Sha256) -> Result<Option<ObjectInfo>> {
        Ok(self.bucket.head(&self.blob_key(sha256))?)
    }

    /// Opens a blob for streaming (resuming by `Range` if the connection drops).
    pub fn open_blob(&self, sha256: &Sha256) -> Result<Option<Download>> {
        Ok(self.bucket.open(&self.blob_key(sha256))?)
    }

    /// Streams `len` encrypted bytes into blob `sha256` with one PUT (a client knows the
    /// length it sends).
    pub fn put_blob(&self, sha256: &Sha256, body: &mut (dyn Read + Send), len: u64) -> Result<()> {
        self.bucket
            .put_reader(&self.blob_key(sha256), body, len, Condition::Always)?;
        Ok(())
    }

    /// Starts receiving blob `sha256`; nothing is visible until it is committed.
    pub fn upload_blob(&self, sha256: &Sha256) -> BlobUpload {
        BlobUpload {
            bucket: self.bucket.clone(),
            key: self.blob_key(sha256),
            buf: Vec::new(),
            multipart: None,
            etags: Vec::new(),
            in_flight: None,
            finished: false,
        }
    }
}

/// A blob on its way into the bucket (see the module doc).
pub struct BlobUpload {
    bucket: Bucket,
    key: String,
    buf: Vec<u8>,
    multipart: Option<Multipart>,
    etags: Vec<String>,
    /// The part uploading now, in its own thread.
    in_flight: Option<JoinHandle<crate::Result<String>>>,
    /// Committed, or its parts discarded.
    finished: bool,
}

impl BlobUpload {
    /// Waits for the part in flight and records its ETag.
    fn land(&mut self) -> crate::Result<()> {
        if let Some(part) = self.in_flight.take() {
            let etag = part.join().unwrap_or_else(|_| {
                Err(crate::Error::Protocol {
                    op: "UploadPart",
                    key: self.key.clone(),
                    detail: "the uploading thread panicked".into(),
                })
            })?;
            self.etags.push(etag);
        }
        Ok(())
    }

    /// Sends what is buffered as the next part, in the background.
    fn send_part(&mut self) -> crate::Result<()> {
        let upload = match &self.multipart {
            Some(m) => m.clone(),
            None => {
                let m = self.bucket.start_multipart(&self.key)?;
                self.multipart = Some(m.clone());
                m
            }
        };
        self.land()?;
        let number = u16::try_from(self.etags.len() + 1).map_err(|_| crate::Error::Protocol {
            op: "UploadPart",
            key: self.key.clone(),
            detail: "more than 65535 parts".into(),
        })?;
        let part = std::mem::replace(&mut self.buf, Vec::with_capacity(PART));
        self.in_flight = Some(std::thread::spawn(move || {
            upload.upload_part(number, &part)
        }));
        Ok(())
    }

    /// Makes the blob visible, whole and at once. False if one was stored already: the
    /// verified bytes replace it all the same (the stored copy may be damaged).
    pub fn commit(mut self) -> Result<bool> {
        self.finished = true;
        let existed = self.bucket.head(&self.key)?.is_some();
        let Some(upload) = self.multipart.clone() else {
            self.bucket.put(&self.key, &self.buf, Condition::Always)?;
            return Ok(!existed);
        };
        let done = (|| -> crate::Result<()> {
            if !self.buf.is_empty() {
                self.send_part()?;
            }
            self.land()?;
            upload.complete(&self.etags)?;
            Ok(())
        })();
        if done.is_err() {
            let _ = upload.abort();
        }
        done?;
        Ok(!existed)
    }
}

impl Write for BlobUpload {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= PART {
            self.send_part().map_err(io::Error::other)?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for BlobUpload {
    /// An upload dropped before its commit leaves nothing: its parts are discarded
    /// (a bucket lifecycle rule for incomplete multipart uploads catches what a killed
    /// process leaves).
    fn drop(&mut self) {
        if !self.finished {
            if let Some(upload) = self.multipart.take() {
                let _ = self.land();
                let _ = upload.abort();
            }
        }
    }
}
