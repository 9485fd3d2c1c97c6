//! The encrypted blob reader: servers and clients read blobs from the other side. Two
//! shapes of input: raw bytes (the reader must refuse them cleanly), and a sequence of
//! frames the fuzzer chooses, encrypted with the key, so that what lies behind the
//! HMACs (frame types, end frames, lengths, digests, order) is explored too. Whatever
//! reads to its end must be exactly the data of its `D` frames, and its digest.
//!
//! Shared by the cargo-fuzz target of the same name and by `tests/fuzz_corpus.rs`, which
//! replays every seed on stable in `cargo test`.

use std::io::Read;

use base64::engine::general_purpose::URL_SAFE;
use base64::Engine;
use pyk_crypto::blob::{BlobReader, MAGIC};
use pyk_crypto::Key;
use pyk_protocol::Sha256;

/// Panics if `data` breaks the invariant above.
pub fn check(data: &[u8]) {
    let key = Key::from_config("fuzz");
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (blob, expected) = if mode & 1 == 0 {
        (rest.to_vec(), None)
    } else {
        // Frames: a length byte, then that many bytes of plaintext (type byte first),
        // each a binary Fernet token behind its u32 length, as the format has them.
        let fernet = fernet::Fernet::new(key.as_str()).unwrap();
        let mut blob = MAGIC.to_vec();
        let mut plain = Vec::new();
        let mut input = rest;
        while let Some((&n, tail)) = input.split_first() {
            let n = usize::from(n).min(tail.len());
            let (frame, tail) = tail.split_at(n);
            if frame.first() == Some(&b'D') {
                plain.extend_from_slice(&frame[1..]);
            }
            let token = URL_SAFE.decode(fernet.encrypt(frame)).unwrap();
            blob.extend((token.len() as u32).to_be_bytes());
            blob.extend(token);
            input = tail;
        }
        (blob, Some(plain))
    };
    let mut reader = BlobReader::new(&key, &blob[..]);
    let mut out = Vec::new();
    if reader.read_to_end(&mut out).is_ok() {
        let digest = reader
            .sha256()
            .expect("a blob read to its end has its digest");
        assert_eq!(digest, Sha256::of(&out));
        if let Some(plain) = expected {
            assert_eq!(out, plain);
        }
    }
}
