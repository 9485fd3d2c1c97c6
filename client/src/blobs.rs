//! Blobs: streamed both ways in the encrypted blob format, never whole in memory.
//!
//! A download is decrypted and checked against its name while it streams to a temp file,
//! which is renamed into place only when whole and right. An upload is encrypted in a
//! thread feeding a pipe to the request.

use std::fs::{self, File};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

use pyk_crypto::blob::{refusal, BlobReader, BlobWriter};
use pyk_crypto::Key;
use pyk_protocol::progress::Metered;
use pyk_protocol::Sha256;
use tempfile::NamedTempFile;

use crate::client::{Bound, Transport};
use crate::error::past_deadline;
use crate::{Client, Damage, Error, Progress};

fn path(sha256: &Sha256) -> String {
    format!("/v1/blobs/{sha256}")
}

impl Client {
    /// Whether the server holds the blob whole, so that a publish may skip it: the
    /// server re-reads a stored blob it has not verified since it last changed before
    /// it says yes, and says no for a damaged one, which the upload then replaces.
    pub fn has_blob(&self, sha256: &Sha256) -> Result<bool, Error> {
        let http = match &self.transport {
            Transport::Bucket(bucket) => return bucket.has_blob(sha256),
            Transport::Http(http) => http,
        };
        let path = path(sha256);
        let req = http.body(http.signed("HEAD", &path, &[]), ())?;
        let resp = http
            .run("HEAD", &path, req)
            .map_err(|e| http.unreachable(e))?;
        match resp.status().as_u16() {
            404 => Ok(false),
            _ => http.check(resp, &format!("blob {sha256}")).map(|_| true),
        }
    }

    /// Whether this client's write key may publish, asked before anything is built: a
    /// write of no blob (an empty body, which no server stores) is refused with 403 for a
    /// read key and for nothing else. A bucket and an unreachable server say yes: the
    /// upload finds out.
    pub fn check_write(&self) -> Result<(), Error> {
        let http = match &self.transport {
            Transport::Bucket(_) => return Ok(()),
            Transport::Http(http) => http,
        };
        let path = path(&Sha256::of(b""));
        let req = http.body(http.signed("PUT", &path, &[]), ())?;
        let Ok(resp) = http.run("PUT", &path, req) else {
            return Ok(());
        };
        match http.check(resp, "a write key check") {
            Err(e @ (Error::ReadOnlyKey { .. } | Error::BadKey { .. } | Error::Clock { .. })) => {
                Err(e)
            }
            _ => Ok(()),
        }
    }

    /// Downloads blob `sha256` (`size` plaintext bytes) into `dir/<sha256>`: decrypted,
    /// verified, and in place only once whole.
    pub fn download_blob(
        &self,
        sha256: &Sha256,
        size: u64,
        dir: &Path,
        progress: &dyn Progress,
    ) -> Result<PathBuf, Error> {
        let tmp = self.download_blob_temp(sha256, size, dir, progress)?;
        keep_blob(tmp, sha256, dir)
    }

    /// Downloads blob `sha256` (`size` plaintext bytes) into a temp file in `dir`,
    /// decrypted and verified, deleted when dropped: a layer that is unpacked and then
    /// not needed whole.
    pub fn download_blob_temp(
        &self,
        sha256: &Sha256,
        size: u64,
        dir: &Path,
        progress: &dyn Progress,
    ) -> Result<NamedTempFile, Error> {
        let http = match &self.transport {
            Transport::Bucket(bucket) => {
                return bucket.download_blob_temp(sha256, size, dir, progress)
            }
            Transport::Http(http) => http,
        };
        let what = format!("blob {sha256}");
        let bound = Bound::Blob(size);
        let resp = http.check(http.get(&path(sha256), None, bound)?, &what)?;
        let body = resp.into_body().into_reader();
        let from = Source {
            server: &http.base,
            what: &what,
            deadline: http.deadline(bound),
        };
        receive_blob(&self.key, body, sha256, size, dir, progress, from)
    }

    /// Encrypts `len` bytes of `file` from `offset` and uploads them as blob `sha256`.
    pub fn upload_blob(
        &self,
        sha256: &Sha256,
        file: &Path,
        offset: u64,
        len: u64,
        progress: &dyn Progress,
    ) -> Result<(), Error> {
        let http = match &self.transport {
            Transport::Bucket(bucket) => {
                return bucket.upload_blob(sha256, file, offset, len, progress)
            }
            Transport::Http(http) => http,
        };
        let what = format!("upload of blob {sha256}");
        let path = path(sha256);
        let (sent, encrypted) = send_encrypted(&self.key, file, offset, len, progress, |rx| {
            // A refusal (403 for a read key, 413 for size) then comes before the body is
            // sent, not as a broken pipe halfway through it.
            let req = http.body(
                http.signed("PUT", &path, &[])
                    .header("Expect", "100-continue"),
                ureq::SendBody::from_reader(rx),
            )?;
            http.run("PUT", &path, req).map_err(|e| http.unreachable(e))
        })?;
        // The server's refusal first: it explains the broken pipe the encryption saw.
        http.check(sent?, &what)?;
        encrypted.map_err(|e| Error::io(format!("read {}", file.display()), e))
    }
}

/// Where a blob came from, for the errors that name it: the server (or bucket) and
/// what was being fetched.
pub(crate) struct Source<'a> {
    pub server: &'a str,
    pub what: &'a str,
    /// The download's overall deadline, if it has one.
    pub deadline: Option<std::time::Duration>,
}

impl Source<'_> {
    fn stalled(&self, source: io::Error) -> Error {
        match self.deadline {
            Some(deadline) if past_deadline(&source) => Error::Deadline {
                server: self.server.to_owned(),
                what: self.what.to_owned(),
                deadline,
            },
            _ => Error::Stalled {
                server: self.server.to_owned(),
                what: self.what.to_owned(),
                source,
            },
        }
    }

    fn damaged(&self, damage: Damage) -> Error {
        Error::Damaged {
            server: self.server.to_owned(),
            what: self.what.to_owned(),
            damage,
        }
    }
}

/// Decrypts blob `sha256` (`size` plaintext bytes) from `body` into a temp file in `dir`,
/// checking it as it streams: what is returned is whole and right, whichever transport
/// the bytes came by (`from` names it in errors).
pub(crate) fn receive_blob(
    key: &Key,
    body: impl Read,
    sha256: &Sha256,
    size: u64,
    dir: &Path,
    progress: &dyn Progress,
    from: Source,
) -> Result<NamedTempFile, Error> {
    let cannot_write = |e| Error::io(format!("write in {}", dir.display()), e);
    fs::create_dir_all(dir).map_err(cannot_write)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".download-")
        .tempfile_in(dir)
        .map_err(cannot_write)?;
    let body = Metered {
        inner: body,
        meter: progress.transfer(size, "downloading"),
    };
    let mut reader = BlobReader::new(key, body);
    // Not io::copy: a failed read (the network, or a refused blob) and a failed
    // write (this machine) are different errors.
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                return Err(match refusal(&e) {
                    Some(&refused) => from.damaged(Damage::Blob(refused)),
                    None => from.stalled(e),
                })
            }
        };
        tmp.write_all(&buf[..n]).map_err(cannot_write)?;
    }
    // The reader ends only after verifying the end frame, which carries the digest.
    let got = reader
        .sha256()
        .expect("a blob read to its end has its digest");
    if got != *sha256 {
        return Err(from.damaged(Damage::Hash(got)));
    }
    Ok(tmp)
}

/// Sends the encrypted blob of `len` bytes of `file` from `offset` through `send`, which
/// reads it from a pipe a thread fills: what an upload does, whichever way it goes.
/// Returns what `send` returned, and whether the file could be read and encrypted (the
/// thread is joined even when `send` gave up early).
pub(crate) fn send_encrypted<R>(
    key: &Key,
    file: &Path,
    offset: u64,
    len: u64,
    progress: &dyn Progress,
    send: impl FnOnce(&mut io::PipeReader) -> R,
) -> Result<(R, io::Result<()>), Error> {
    let (mut rx, tx) = io::pipe().map_err(|e| Error::io("create a pipe", e))?;
    let mut src = File::open(file).map_err(|e| Error::io(format!("read {}", file.display()), e))?;
    let key = key.clone();
    let meter = progress.transfer(len, "uploading");
    let writer = std::thread::spawn(move || -> io::Result<()> {
        src.seek(io::SeekFrom::Start(offset))?;
        let mut enc = BlobWriter::new(&key, tx)?;
        let mut src = Metered {
            inner: src.take(len),
            meter,
        };
        io::copy(&mut src, &mut enc)?;
        enc.finish().map(drop)
    });
    let sent = send(&mut rx);
    // The reader gone, a writer still writing sees a broken pipe and ends.
    drop(rx);
    let encrypted = writer
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("the encrypting thread panicked")));
    Ok((sent, encrypted))
}

/// Keeps a blob received with [`Client::download_blob_temp`] in `dir` under its sha256:
/// synced, then renamed into place.
pub(crate) fn keep_blob(tmp: NamedTempFile, sha256: &Sha256, dir: &Path) -> Result<PathBuf, Error> {
    let dest = dir.join(sha256.to_string());
    tmp.as_file()
        .sync_all()
        .map_err(|e| Error::io(format!("write in {}", dir.display()), e))?;
    tmp.persist(&dest)
        .map_err(|e| Error::io(format!("write {}", dest.display()), e.error))?;
    Ok(dest)
}
