//! The artifact trailer: the launcher decodes it from the last bytes of a file anyone may
//! hand it. Any input must decode or be refused, never panic, and whatever decodes must
//! encode back to the same bytes (it names layers by offsets into the file).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pyk_artifact::trailer::{Trailer, TRAILER_LEN};

fuzz_target!(|data: &[u8]| {
    let Some((len, bytes)) = data.split_first_chunk::<8>() else {
        return;
    };
    let file_len = u64::from_le_bytes(*len);
    if let Ok(trailer) = Trailer::decode(bytes, file_len) {
        let again = trailer.encode();
        assert_eq!(again.len(), TRAILER_LEN);
        let back = Trailer::decode(&again, file_len).expect("an encoded trailer decodes");
        assert_eq!(back.encode(), again);
    }
});
