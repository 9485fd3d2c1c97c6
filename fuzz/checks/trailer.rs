//! The artifact trailer: the launcher decodes it from the last bytes of a file anyone may
//! hand it. Any input must decode or be refused, never panic, and whatever decodes must
//! encode to a trailer that decodes to the same thing (it names layers by offsets into the
//! file), and encodes again to the same bytes.
//!
//! Shared by the cargo-fuzz target of the same name and by `tests/fuzz_corpus.rs`, which
//! replays every seed on stable in `cargo test`.

use pyk_artifact::trailer::Trailer;

/// Panics if `data` breaks the invariant above.
pub fn check(data: &[u8]) {
    let Some((len, bytes)) = data.split_first_chunk::<8>() else {
        return;
    };
    let file_len = u64::from_le_bytes(*len);
    if let Ok(trailer) = Trailer::decode(bytes, file_len) {
        let original = Trailer::text(bytes)
            .expect("a decoded trailer has a text")
            .len() as u64;
        let again = trailer.encode().expect("a decoded trailer encodes");
        // The same file with the trailer as written again.
        let file_len = file_len - original + again.len() as u64;
        let back = Trailer::decode(&again, file_len).expect("an encoded trailer decodes");
        assert_eq!(back, trailer);
        assert_eq!(back.encode().unwrap(), again);
    }
}
