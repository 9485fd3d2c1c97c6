//! sha256, the one way pyk names bytes: blobs, layers, artifacts.
//!
//! [`Sha256`] is written in exactly one spelling, 64 lowercase hex digits, so a blob has
//! one URL and one file name; parsing refuses every other spelling (upper case
//! included). [`HashingReader`] and [`HashingWriter`] hash and count what passes through
//! them, so a file is hashed while it is copied, downloaded or decrypted, in one pass.
//!
//! The hex encoder is written here rather than taken from a crate: it is eight lines, and
//! this crate stays at serde and sha2 so the launcher can use it. RustCrypto's
//! `digest-io` has a hashing reader and writer, but for `digest` 0.11 (sha2 0.10 is on
//! 0.10) and without a byte count; the two here are twenty lines each.

use std::fmt;
use std::io::{self, Read, Write};
use std::str::FromStr;

use sha2::Digest as _;

/// A sha256 digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256([u8; 32]);

impl Sha256 {
    pub const fn from_bytes(bytes: [u8; 32]) -> Sha256 {
        Sha256(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The digest of `data`.
    pub fn of(data: &[u8]) -> Sha256 {
        Sha256(sha2::Sha256::digest(data).into())
    }
}

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&hex(&self.0))
    }
}

impl fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256({self})")
    }
}

/// Why a string is not a [`Sha256`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseSha256Error;

impl fmt::Display for ParseSha256Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a sha256 is 64 lowercase hex digits")
    }
}

impl std::error::Error for ParseSha256Error {}

impl FromStr for Sha256 {
    type Err = ParseSha256Error;

    /// Exactly 64 lowercase hex digits: nothing else names the same digest.
    fn from_str(s: &str) -> Result<Sha256, ParseSha256Error> {
        let digit = |c: u8| match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            _ => Err(ParseSha256Error),
        };
        let s = s.as_bytes();
        if s.len() != 64 {
            return Err(ParseSha256Error);
        }
        let mut out = [0u8; 32];
        for (byte, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
            *byte = digit(pair[0])? << 4 | digit(pair[1])?;
        }
        Ok(Sha256(out))
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Sha256 {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Sha256 {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Sha256, D::Error> {
        struct Hex;
        impl serde::de::Visitor<'_> for Hex {
            type Value = Sha256;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("64 lowercase hex digits")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Sha256, E> {
                s.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Hex)
    }
}

/// Lowercase hex, the only way pyk writes bytes as text.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

/// A running sha256 that also counts its bytes.
#[derive(Clone, Default)]
pub struct Hasher {
    state: sha2::Sha256,
    len: u64,
}

impl Hasher {
    pub fn new() -> Hasher {
        Hasher::default()
    }

    pub fn update(&mut self, data: &[u8]) {
        self.state.update(data);
        self.len += data.len() as u64;
    }

    /// Bytes hashed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The digest of everything so far (the hasher can go on).
    pub fn digest(&self) -> Sha256 {
        Sha256(self.state.clone().finalize().into())
    }
}

/// Hashes and counts every byte read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Hasher,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> HashingReader<R> {
        HashingReader {
            inner,
            hasher: Hasher::new(),
        }
    }

    /// The digest and count of what has been read so far.
    pub fn hasher(&self) -> &Hasher {
        &self.hasher
    }

    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Hashes and counts every byte the inner writer accepts.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Hasher,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> HashingWriter<W> {
        HashingWriter {
            inner,
            hasher: Hasher::new(),
        }
    }

    /// The digest and count of what has been written so far.
    pub fn hasher(&self) -> &Hasher {
        &self.hasher
    }

    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    pub fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn one_spelling() {
        let d = Sha256::of(b"abc");
        assert_eq!(d.to_string(), ABC);
        assert_eq!(ABC.parse::<Sha256>(), Ok(d));
        assert_eq!(format!("{d:>66}"), format!("  {ABC}"));
        for bad in [
            ABC.to_uppercase(),
            ABC[..63].to_owned(),
            format!("{ABC}0"),
            format!("{}g", &ABC[..63]),
            format!("+{}", &ABC[1..]),
            String::new(),
        ] {
            assert_eq!(bad.parse::<Sha256>(), Err(ParseSha256Error), "{bad}");
        }
        assert_eq!(hex(&[0, 0x0f, 0xa0, 0xff]), "000fa0ff");
    }

    #[cfg(feature = "serde")]
    #[test]
    fn serde_is_the_hex_string() {
        let d = Sha256::of(b"abc");
        assert_eq!(serde_json::to_string(&d).unwrap(), format!("\"{ABC}\""));
        let back: Sha256 = serde_json::from_str(&format!("\"{ABC}\"")).unwrap();
        assert_eq!(back, d);
        assert!(serde_json::from_str::<Sha256>(&format!("\"{}\"", ABC.to_uppercase())).is_err());
        assert!(serde_json::from_str::<Sha256>("42").is_err());
    }

    #[test]
    fn readers_and_writers_hash_what_passes() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let mut reader = HashingReader::new(&data[..]);
        let mut copy = HashingWriter::new(Vec::new());
        io::copy(&mut reader, &mut copy).unwrap();
        assert_eq!(reader.hasher().digest(), Sha256::of(&data));
        assert_eq!(reader.hasher().len(), data.len() as u64);
        assert_eq!(copy.hasher().digest(), Sha256::of(&data));
        assert_eq!(copy.into_inner(), data);

        // Nested: each part with its own digest, and the whole, in one read.
        let mut whole = HashingReader::new(&data[..]);
        let mut part = HashingReader::new((&mut whole).take(1000));
        io::copy(&mut part, &mut io::sink()).unwrap();
        assert_eq!(part.hasher().digest(), Sha256::of(&data[..1000]));
        io::copy(&mut whole, &mut io::sink()).unwrap();
        assert_eq!(whole.hasher().digest(), Sha256::of(&data));
    }
}
