//! Multipart uploads: how a blob of unknown length streams into a bucket. Parts go up
//! as they fill (S3 wants at least 5 MiB for every part but the last), and the object
//! appears, whole and at once, only when the upload is completed, so an upload that
//! fails or is abandoned leaves nothing a reader can see.

use crate::bucket::request;
use crate::{Bucket, Error, Put, Result};

/// The smallest part S3 accepts (but for the last).
pub const MIN_PART: usize = 5 << 20;

/// An upload under way. Clones share it: parts may go up from several threads.
#[derive(Clone)]
pub struct Multipart {
    bucket: Bucket,
    key: String,
    upload_id: String,
}

impl Multipart {
    pub(crate) fn new(bucket: Bucket, key: &str, upload_id: String) -> Multipart {
        Multipart {
            bucket,
            key: key.to_owned(),
            upload_id,
        }
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// Uploads part `number` (from 1); returns its ETag, which
    /// [`Multipart::complete`] lists.
    pub fn upload_part(&self, number: u16, data: &[u8]) -> Result<String> {
        let url = self.bucket.sign_part(&self.key, number, &self.upload_id);
        let resp = self
            .bucket
            .send("UploadPart", &self.key, request("PUT", &url), data)?;
        if resp.status().as_u16() != 200 {
            return Err(self.bucket.refuse("UploadPart", &self.key, resp));
        }
        resp.headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| Error::Protocol {
                op: "UploadPart",
                key: self.key.clone(),
                detail: "no ETag".into(),
            })
    }

    /// Makes the object from the parts whose ETags are given, in order.
    pub fn complete(&self, etags: &[String]) -> Result<Put> {
        let (url, body) = self.bucket.sign_complete(&self.key, &self.upload_id, etags);
        let mut resp = self.bucket.send(
            "CompleteMultipartUpload",
            &self.key,
            request("POST", &url),
            body,
        )?;
        if resp.status().as_u16() != 200 {
            return self
                .bucket
                .stored("CompleteMultipartUpload", &self.key, resp);
        }
        // S3 may answer 200 and still fail: the body says which.
        let text = resp
            .body_mut()
            .read_to_string()
            .map_err(|e| Error::Stalled {
                op: "CompleteMultipartUpload",
                key: self.key.clone(),
                source: e.into_io(),
            })?;
        match rusty_s3::actions::CompleteMultipartUploadResponse::parse(&text) {
            Ok(done) => Ok(Put::Stored {
                etag: done.etag().to_owned(),
            }),
            Err(_) => {
                let (code, message) = crate::error::error_body(&text);
                Err(Error::Refused {
                    op: "CompleteMultipartUpload",
                    key: self.key.clone(),
                    status: 200,
                    code,
                    message,
                })
            }
        }
    }

    /// Discards the parts uploaded so far.
    pub fn abort(&self) -> Result<()> {
        let url = self.bucket.sign_abort(&self.key, &self.upload_id);
        let resp = self.bucket.send(
            "AbortMultipartUpload",
            &self.key,
            request("DELETE", &url),
            (),
        )?;
        match resp.status().as_u16() {
            200 | 204 | 404 => Ok(()),
            _ => Err(self.bucket.refuse("AbortMultipartUpload", &self.key, resp)),
        }
    }
}
