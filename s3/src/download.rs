//! A streamed GET that survives a dropped connection: when the body breaks off, the
//! rest is asked for with a `Range` GET of the same object version (`If-Match` its
//! ETag), a few times, so a 100 MB blob is not started over, and never mixed with a
//! newer object of the same key.

use std::io::{self, Read};

use ureq::BodyReader;

use crate::{Bucket, ObjectInfo};

/// How many times one download resumes before it gives up.
const RESUMES: u32 = 3;

pub struct Download {
    bucket: Bucket,
    key: String,
    info: ObjectInfo,
    /// Bytes delivered so far.
    pos: u64,
    body: BodyReader<'static>,
    resumes_left: u32,
}

impl Download {
    pub(crate) fn new(
        bucket: Bucket,
        key: &str,
        info: ObjectInfo,
        resp: ureq::http::Response<ureq::Body>,
    ) -> Download {
        Download {
            bucket,
            key: key.to_owned(),
            info,
            pos: 0,
            body: resp.into_body().into_reader(),
            resumes_left: RESUMES,
        }
    }

    /// The whole object's length and ETag.
    pub fn info(&self) -> &ObjectInfo {
        &self.info
    }

    fn resume(&mut self, why: io::Error) -> io::Result<()> {
        if self.resumes_left == 0 {
            return Err(why);
        }
        self.resumes_left -= 1;
        let resp = self
            .bucket
            .resume(&self.key, self.pos, &self.info.etag)
            .map_err(|source| io::Error::other(Unresumed { broke: why, source }))?;
        self.body = resp.into_body().into_reader();
        Ok(())
    }
}

impl Read for Download {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            match self.body.read(buf) {
                Ok(0) if self.pos < self.info.len => {
                    self.resume(io::Error::from(io::ErrorKind::UnexpectedEof))?
                }
                Ok(n) => {
                    self.pos += n as u64;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => self.resume(e)?,
            }
        }
    }
}

/// A transfer that broke off, then failed to resume: the break in the message, the
/// failed resumption as the cause.
#[derive(Debug, thiserror::Error)]
#[error("the transfer broke off ({broke}), and resuming it failed")]
struct Unresumed {
    broke: io::Error,
    #[source]
    source: crate::Error,
}
