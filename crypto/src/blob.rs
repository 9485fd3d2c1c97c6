//! The encrypted blob format: how package blobs travel and rest, streamed in 64 KiB
//! chunks so a 10 MB artifact is never base64 text and never whole in memory.
//!
//! ```text
//! "PYKENC01"                                   8-byte magic and version
//! frame*:  u32 big-endian N, then N bytes      a binary Fernet token (the bytes its
//!                                              base64url text encodes)
//! ```
//! Each token's plaintext is a one-byte frame type and its body: `D` + up to 64 KiB of
//! data, or, last, `E` + the total length (u64 BE) + the sha256 of all data. The end
//! frame is authenticated like the rest, so truncation, reordering or splicing of frames
//! is detected; a tampered byte fails the frame's HMAC. Readers refuse any frame after
//! `E`, and frames larger than [`MAX_FRAME`].

use std::io::{self, Read, Write};

use base64::engine::general_purpose::URL_SAFE;
use base64::Engine;
use fernet::Fernet;
use pyk_protocol::digest::{Hasher, Sha256};

use crate::Key;

pub const MAGIC: &[u8; 8] = b"PYKENC01";
/// Plaintext bytes per data frame.
pub const CHUNK: usize = 64 * 1024;
/// The largest token a reader accepts (a full chunk plus Fernet's overhead and padding).
pub const MAX_FRAME: usize = CHUNK + 1 + 1 + 8 + 16 + 16 + 32;

/// Size of the encrypted form of `len` plaintext bytes.
pub fn encrypted_len(len: u64) -> u64 {
    let frame = |plain: u64| 4 + 1 + 8 + 16 + (plain / 16 + 1) * 16 + 32;
    let full = len / CHUNK as u64;
    let rest = len % CHUNK as u64;
    let data = full * frame(1 + CHUNK as u64) + if rest > 0 { frame(1 + rest) } else { 0 };
    MAGIC.len() as u64 + data + frame(1 + 8 + 32)
}

/// Encrypts everything written to it; call [`BlobWriter::finish`] to write the end frame.
pub struct BlobWriter<W: Write> {
    out: W,
    fernet: Fernet,
    buf: Vec<u8>,
    /// The plaintext's digest and length, for the end frame.
    hasher: Hasher,
}

impl<W: Write> BlobWriter<W> {
    pub fn new(key: &Key, mut out: W) -> io::Result<Self> {
        out.write_all(MAGIC)?;
        Ok(BlobWriter {
            out,
            fernet: key.fernet(),
            buf: Vec::with_capacity(CHUNK + 1),
            hasher: Hasher::new(),
        })
    }

    fn frame(&mut self, kind: u8, body: &[u8]) -> io::Result<()> {
        let mut plain = Vec::with_capacity(body.len() + 1);
        plain.push(kind);
        plain.extend_from_slice(body);
        let token = URL_SAFE
            .decode(self.fernet.encrypt(&plain))
            .map_err(|e| io::Error::other(format!("fernet produced bad base64: {e}")))?;
        let len = u32::try_from(token.len()).map_err(io::Error::other)?;
        self.out.write_all(&len.to_be_bytes())?;
        self.out.write_all(&token)
    }

    fn flush_chunk(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            let chunk = std::mem::take(&mut self.buf);
            self.frame(b'D', &chunk)?;
            self.buf = chunk;
            self.buf.clear();
        }
        Ok(())
    }

    /// Writes the end frame; returns the inner writer and the plaintext's sha256.
    pub fn finish(mut self) -> io::Result<(W, Sha256)> {
        self.flush_chunk()?;
        let digest = self.hasher.digest();
        let mut end = self.hasher.len().to_be_bytes().to_vec();
        end.extend_from_slice(digest.as_bytes());
        self.frame(b'E', &end)?;
        self.out.flush()?;
        Ok((self.out, digest))
    }
}

impl<W: Write> Write for BlobWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        self.hasher.update(&data[..n]);
        if self.buf.len() == CHUNK {
            self.flush_chunk()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Why an encrypted blob was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobError {
    NotABlob,
    /// A frame fails its HMAC: the wrong key, or tampered bytes.
    BadFrame,
    Truncated,
    /// Data after the end frame, or a frame of an unknown type.
    Malformed,
    /// The end frame's length or sha256 disagrees with the data.
    Mismatch,
}

impl std::fmt::Display for BlobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BlobError::NotABlob => "not a pyk encrypted blob",
            BlobError::BadFrame => {
                "blob does not decrypt with this key (wrong key, or tampered data)"
            }
            BlobError::Truncated => "blob is truncated",
            BlobError::Malformed => "blob is malformed",
            BlobError::Mismatch => "blob's contents do not match its checksum",
        })
    }
}

impl std::error::Error for BlobError {}

/// The reason a [`BlobReader`] refused its input, if that is what `e` is (rather than
/// a failure to read the input at all).
pub fn refusal(e: &io::Error) -> Option<&BlobError> {
    e.get_ref().and_then(|inner| inner.downcast_ref())
}

fn refuse(e: BlobError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// Decrypts a blob as it is read. Reaching EOF means the end frame was seen and
/// verified; any fault is an `InvalidData` error wrapping a [`BlobError`].
pub struct BlobReader<R: Read> {
    input: R,
    fernet: Fernet,
    plain: Vec<u8>,
    pos: usize,
    /// The digest and length of the data frames so far.
    hasher: Hasher,
    digest: Option<Sha256>,
    started: bool,
}

impl<R: Read> BlobReader<R> {
    pub fn new(key: &Key, input: R) -> Self {
        BlobReader {
            input,
            fernet: key.fernet(),
            plain: Vec::new(),
            pos: 0,
            hasher: Hasher::new(),
            digest: None,
            started: false,
        }
    }

    /// The sha256 of the plaintext, once the whole blob has been read and verified.
    pub fn sha256(&self) -> Option<Sha256> {
        self.digest
    }

    fn read_exact_or_eof(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        let mut got = 0;
        while got < buf.len() {
            match self.input.read(&mut buf[got..]) {
                Ok(0) if got == 0 => return Ok(false),
                Ok(0) => return Err(refuse(BlobError::Truncated)),
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// Reads and verifies the next frame into `self.plain`. Returns false at the end.
    fn next_frame(&mut self) -> io::Result<bool> {
        if !self.started {
            let mut magic = [0u8; 8];
            if !self.read_exact_or_eof(&mut magic)? || &magic != MAGIC {
                return Err(refuse(BlobError::NotABlob));
            }
            self.started = true;
        }
        if self.digest.is_some() {
            let mut extra = [0u8; 1];
            return match self.read_exact_or_eof(&mut extra)? {
                false => Ok(false),
                true => Err(refuse(BlobError::Malformed)),
            };
        }
        let mut len = [0u8; 4];
        if !self.read_exact_or_eof(&mut len)? {
            return Err(refuse(BlobError::Truncated));
        }
        let len = u32::from_be_bytes(len) as usize;
        if len > MAX_FRAME {
            return Err(refuse(BlobError::Malformed));
        }
        let mut token = vec![0u8; len];
        if !self.read_exact_or_eof(&mut token)? {
            return Err(refuse(BlobError::Truncated));
        }
        let plain = self
            .fernet
            .decrypt(&URL_SAFE.encode(&token))
            .map_err(|_| refuse(BlobError::BadFrame))?;
        match plain.split_first() {
            Some((b'D', data)) => {
                self.hasher.update(data);
                self.plain = data.to_vec();
                self.pos = 0;
                Ok(true)
            }
            Some((b'E', end)) if end.len() == 40 => {
                let digest = self.hasher.digest();
                if end[..8] != self.hasher.len().to_be_bytes() || end[8..] != digest.as_bytes()[..]
                {
                    return Err(refuse(BlobError::Mismatch));
                }
                self.digest = Some(digest);
                self.next_frame()
            }
            _ => Err(refuse(BlobError::Malformed)),
        }
    }
}

impl<R: Read> Read for BlobReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.plain.len() {
            if !self.next_frame()? {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.plain.len() - self.pos);
        buf[..n].copy_from_slice(&self.plain[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encrypt(key: &Key, data: &[u8]) -> Vec<u8> {
        let mut w = BlobWriter::new(key, Vec::new()).unwrap();
        w.write_all(data).unwrap();
        w.finish().unwrap().0
    }

    fn decrypt(key: &Key, blob: &[u8]) -> Result<Vec<u8>, BlobError> {
        let mut out = Vec::new();
        BlobReader::new(key, blob)
            .read_to_end(&mut out)
            .map_err(|e| {
                *e.into_inner()
                    .and_then(|e| e.downcast::<BlobError>().ok())
                    .expect("a BlobError")
            })?;
        Ok(out)
    }

    /// Like `decrypt`, but only the error: keeps assertion messages short.
    fn fault(key: &Key, blob: &[u8]) -> Option<BlobError> {
        decrypt(key, blob).err()
    }

    #[test]
    fn round_trips_and_predicts_its_size() {
        let key = Key::generate();
        for len in [0, 1, 15, 16, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 17] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            let blob = encrypt(&key, &data);
            assert_eq!(blob.len() as u64, encrypted_len(len as u64), "len {len}");
            assert!(decrypt(&key, &blob).unwrap() == data, "len {len}");
        }
    }

    #[test]
    fn refuses_wrong_keys_and_tampering() {
        let key = Key::generate();
        let data: Vec<u8> = (0..2 * CHUNK + 5).map(|i| (i / CHUNK) as u8).collect();
        let blob = encrypt(&key, &data);
        assert_eq!(fault(&Key::generate(), &blob), Some(BlobError::BadFrame));
        let mut bad = blob.clone();
        bad[100] ^= 1;
        assert_eq!(fault(&key, &bad), Some(BlobError::BadFrame));
        // Dropping the end frame, or cutting a frame.
        let frame = |b: &[u8], at: usize| {
            4 + u32::from_be_bytes(b[at..at + 4].try_into().unwrap()) as usize
        };
        let f1 = 8 + frame(&blob, 8);
        let f2 = f1 + frame(&blob, f1);
        let f3 = f2 + frame(&blob, f2);
        assert_eq!(fault(&key, &blob[..f3]), Some(BlobError::Truncated));
        assert_eq!(fault(&key, &blob[..f3 - 3]), Some(BlobError::Truncated));
        // Swapping two data frames keeps every HMAC valid but not the checksum.
        let mut swapped = blob[..8].to_vec();
        swapped.extend_from_slice(&blob[f1..f2]);
        swapped.extend_from_slice(&blob[8..f1]);
        swapped.extend_from_slice(&blob[f2..]);
        assert_eq!(fault(&key, &swapped), Some(BlobError::Mismatch));
        // Anything after the end frame.
        let mut extra = blob.clone();
        extra.push(0);
        assert_eq!(fault(&key, &extra), Some(BlobError::Malformed));
        assert_eq!(
            fault(&key, b"PK\x03\x04 not a blob"),
            Some(BlobError::NotABlob)
        );
    }
}
