//! The trailer: the last [`TRAILER_LEN`] bytes of every artifact.
//!
//! An artifact is `[stub][runtime layer .tar.zst][payload zip][trailer]`. The trailer says
//! where the two middle parts are and what they hash to, so the stub can find its runtime
//! cache entry without hashing anything on a warm start.
//!
//! It is plain ASCII (space-separated `key=value` tokens, padded with spaces, ending in
//! the 8-byte magic `PYKTRL01`). Being ASCII it can never contain the zip end-of-central-
//! directory signature `PK\x05\x06`, which CPython's zipimport searches for in the file's
//! last 64 KiB; being fixed-size it costs the stub one `pread`. `tail -c 384 ARTIFACT`
//! shows it.

use std::fmt;
use std::fs::File;
use std::os::unix::fs::FileExt;

/// The package kind and the name rule live in the protocol crate, which the repository
/// shares; the trailer records them.
pub use pyk_protocol::{valid_name, Kind};

/// Total size of the trailer in bytes (fixed per format version).
pub const TRAILER_LEN: usize = 384;
/// The last bytes of every artifact: a magic prefix and the two-digit format version.
pub const MAGIC: &[u8; 8] = b"PYKTRL01";
const MAGIC_PREFIX: &[u8; 6] = b"PYKTRL";

/// A byte range inside the artifact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub offset: u64,
    pub len: u64,
}

impl Span {
    pub fn end(self) -> Option<u64> {
        self.offset.checked_add(self.len)
    }
}

/// The decoded trailer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trailer {
    pub kind: Kind,
    /// The package name (validated by [`valid_name`]).
    pub name: String,
    /// Python `(major, minor)` the payload was compiled for.
    pub python: (u8, u8),
    pub runtime: Span,
    /// sha256 of the compressed runtime layer: the runtime cache key.
    pub runtime_sha256: [u8; 32],
    pub payload: Span,
    pub payload_sha256: [u8; 32],
}

/// Why a file is not a readable artifact.
#[derive(Debug, PartialEq, Eq)]
pub enum TrailerError {
    /// Shorter than a trailer: truncated, or not an artifact at all.
    TooShort,
    /// The last bytes are not `PYKTRL..`.
    BadMagic,
    /// A `PYKTRL` trailer of a format version this build does not read.
    UnsupportedVersion(String),
    /// The magic matched but the fields don't parse or don't fit the file.
    Malformed(&'static str),
    /// The file could not be read.
    Io(std::io::ErrorKind),
}

impl fmt::Display for TrailerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrailerError::TooShort => write!(f, "not a pyk artifact (file too short)"),
            TrailerError::BadMagic => write!(
                f,
                "not a pyk artifact (no trailer at the end of the file; truncated?)"
            ),
            TrailerError::UnsupportedVersion(v) => write!(
                f,
                "artifact format version {v} is not supported by this pyk"
            ),
            TrailerError::Malformed(what) => write!(f, "damaged artifact trailer: {what}"),
            TrailerError::Io(kind) => write!(f, "cannot read the artifact: {kind}"),
        }
    }
}

impl std::error::Error for TrailerError {}

impl Trailer {
    /// The trailer's bytes, exactly [`TRAILER_LEN`] long.
    ///
    /// Panics only on a programming error: a name that [`valid_name`] rejects.
    pub fn encode(&self) -> [u8; TRAILER_LEN] {
        assert!(
            valid_name(&self.name),
            "invalid package name reached the trailer"
        );
        let text = format!(
            "pyk-artifact kind={} name={} python={}.{} runtime={:x}+{:x} runtime-sha256={} payload={:x}+{:x} payload-sha256={}\n",
            self.kind.as_str(),
            self.name,
            self.python.0,
            self.python.1,
            self.runtime.offset,
            self.runtime.len,
            hex(&self.runtime_sha256),
            self.payload.offset,
            self.payload.len,
            hex(&self.payload_sha256),
        );
        let mut out = [b' '; TRAILER_LEN];
        let body = TRAILER_LEN - MAGIC.len();
        assert!(text.len() <= body, "trailer fields overflow");
        out[..text.len()].copy_from_slice(text.as_bytes());
        out[body..].copy_from_slice(MAGIC);
        out
    }

    /// Reads the trailer of an open artifact: one `fstat` and one `pread`.
    pub fn read(file: &File) -> Result<Trailer, TrailerError> {
        let io = |e: std::io::Error| TrailerError::Io(e.kind());
        let len = file.metadata().map_err(io)?.len();
        let mut tail = [0u8; TRAILER_LEN];
        let n = file
            .read_at(&mut tail, len.saturating_sub(TRAILER_LEN as u64))
            .map_err(io)?;
        Trailer::decode(&tail[..n], len)
    }

    /// Decodes the last [`TRAILER_LEN`] bytes of a file of `file_len` bytes, checking that
    /// both spans lie inside the file, in order, before the trailer.
    pub fn decode(bytes: &[u8], file_len: u64) -> Result<Trailer, TrailerError> {
        if bytes.len() != TRAILER_LEN || file_len < TRAILER_LEN as u64 {
            return Err(TrailerError::TooShort);
        }
        let (body, magic) = bytes.split_at(TRAILER_LEN - MAGIC.len());
        if !magic.starts_with(MAGIC_PREFIX) {
            return Err(TrailerError::BadMagic);
        }
        if magic != MAGIC {
            let v = String::from_utf8_lossy(&magic[MAGIC_PREFIX.len()..]).into_owned();
            return Err(TrailerError::UnsupportedVersion(v));
        }
        let body = std::str::from_utf8(body).map_err(|_| TrailerError::Malformed("not ASCII"))?;
        let mut tokens = body.split_ascii_whitespace();
        if tokens.next() != Some("pyk-artifact") {
            return Err(TrailerError::Malformed("missing header"));
        }
        let mut field = |key: &'static str| -> Result<&str, TrailerError> {
            tokens
                .next()
                .and_then(|t| t.strip_prefix(key))
                .and_then(|t| t.strip_prefix('='))
                .ok_or(TrailerError::Malformed(key))
        };
        let kind = match field("kind")? {
            "run" => Kind::Run,
            "lib" => Kind::Lib,
            _ => return Err(TrailerError::Malformed("kind")),
        };
        let name = field("name")?;
        if !valid_name(name) {
            return Err(TrailerError::Malformed("name"));
        }
        let name = name.to_owned();
        let python = parse_python(field("python")?).ok_or(TrailerError::Malformed("python"))?;
        let runtime = parse_span(field("runtime")?).ok_or(TrailerError::Malformed("runtime"))?;
        let runtime_sha256 = sha256_from_hex(field("runtime-sha256")?)
            .ok_or(TrailerError::Malformed("runtime-sha256"))?;
        let payload = parse_span(field("payload")?).ok_or(TrailerError::Malformed("payload"))?;
        let payload_sha256 = sha256_from_hex(field("payload-sha256")?)
            .ok_or(TrailerError::Malformed("payload-sha256"))?;

        let body_end = file_len - TRAILER_LEN as u64;
        let in_order = runtime.end().is_some_and(|e| e <= payload.offset)
            && payload.end().is_some_and(|e| e <= body_end);
        if !in_order {
            return Err(TrailerError::Malformed(
                "offsets do not fit the file (truncated?)",
            ));
        }
        Ok(Trailer {
            kind,
            name,
            python,
            runtime,
            runtime_sha256,
            payload,
            payload_sha256,
        })
    }

    /// The runtime cache key: the runtime layer's sha256 in lowercase hex.
    pub fn runtime_key(&self) -> String {
        hex(&self.runtime_sha256)
    }
}

/// Lowercase hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}

fn parse_python(s: &str) -> Option<(u8, u8)> {
    let (major, minor) = s.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

fn parse_span(s: &str) -> Option<Span> {
    let (offset, len) = s.split_once('+')?;
    Some(Span {
        offset: u64::from_str_radix(offset, 16).ok()?,
        len: u64::from_str_radix(len, 16).ok()?,
    })
}

/// Parses a sha256 written in hex (either case).
pub fn sha256_from_hex(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Trailer {
        Trailer {
            kind: Kind::Run,
            name: "hello-world_2.x".into(),
            python: (3, 11),
            runtime: Span {
                offset: 400_000,
                len: 0x0605_4b50,
            },
            runtime_sha256: [0xab; 32],
            payload: Span {
                offset: 400_000 + 0x0605_4b50,
                len: 1234,
            },
            payload_sha256: [0x05; 32],
        }
    }

    fn file_len(t: &Trailer) -> u64 {
        t.payload.end().unwrap() + TRAILER_LEN as u64
    }

    #[test]
    fn round_trips_and_never_contains_the_zip_end_signature() {
        let t = sample();
        let bytes = t.encode();
        assert!(!bytes.windows(4).any(|w| w == b"PK\x05\x06"));
        assert!(bytes.is_ascii());
        assert_eq!(Trailer::decode(&bytes, file_len(&t)).unwrap(), t);
    }

    #[test]
    fn rejects_damage() {
        let t = sample();
        let good = t.encode();
        let mut bad = good;
        bad[TRAILER_LEN - 1] = b'9';
        assert_eq!(
            Trailer::decode(&bad, file_len(&t)),
            Err(TrailerError::UnsupportedVersion("09".into()))
        );
        bad = good;
        bad[TRAILER_LEN - 8] = b'X';
        assert_eq!(
            Trailer::decode(&bad, file_len(&t)),
            Err(TrailerError::BadMagic)
        );
        // A file shorter than its spans say: truncated.
        assert!(matches!(
            Trailer::decode(&good, file_len(&t) - 1),
            Err(TrailerError::Malformed(_))
        ));
        bad = good;
        bad[20] = 0xff;
        assert_eq!(
            Trailer::decode(&bad, file_len(&t)),
            Err(TrailerError::Malformed("not ASCII"))
        );
        assert_eq!(
            Trailer::decode(&good[1..], file_len(&t)),
            Err(TrailerError::TooShort)
        );
    }

    #[test]
    fn names() {
        assert!(valid_name("foo"));
        assert!(valid_name("foo.bar-2_x"));
        for bad in ["", ".x", "-x", "a/b", "..", "a b", "é", &"x".repeat(65)] {
            assert!(!valid_name(bad), "{bad:?}");
        }
    }
}
