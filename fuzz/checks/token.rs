//! Request tokens: every request's Authorization header is read before anything else,
//! by anyone who can reach the server. Any header must parse or be refused without a
//! panic; the canonical-string parser must accept exactly what `canonical` writes.
//!
//! Shared by the cargo-fuzz target of the same name and by `tests/fuzz_corpus.rs`, which
//! replays every seed on stable in `cargo test`.

use pyk_crypto::{token, Key};
use pyk_protocol::request;

/// Panics if `data` breaks the invariant above.
pub fn check(data: &[u8]) {
    let key = Key::from_config("fuzz");
    if let Ok(header) = std::str::from_utf8(data) {
        if let Ok(t) = token::parse(header) {
            let _ = t.open(&key);
            let _ = token::check_time(t.timestamp, 1_700_000_000);
        }
        // As a canonical string: what parses must be written back the same.
        if let Some((method, target, body)) = request::parse(header) {
            assert_eq!(request::canonical(method, target, body.as_ref()), header);
        }
    }
    // Tokens that authenticate, around a plaintext the fuzzer chose.
    let plain = String::from_utf8_lossy(data);
    let fernet = fernet::Fernet::new(key.as_str()).unwrap();
    let header = format!("Pyk {}", fernet.encrypt(plain.as_bytes()));
    // Headers past 4 KiB are refused unread, by design (a token is ~250 characters).
    let Ok(t) = token::parse(&header) else {
        assert!(header.len() > 4096, "a token pyk made parses");
        return;
    };
    match t.open(&key) {
        Some(claims) => assert_eq!(
            request::canonical(&claims.method, &claims.target, claims.body.as_ref()),
            plain
        ),
        None => assert!(request::parse(&plain).is_none()),
    }
}
