//! Request tokens v2: `Authorization: Pyk <token>`, where the token is a Fernet token of
//! the canonical request string (`pyk_protocol::request`): method, path and query as
//! sent, and the sha256 of the body.
//!
//! A token is plain Fernet, so Python's `cryptography.fernet` makes one too. What pyk
//! adds around it:
//! - [`parse`] reads the token's structure (version byte, timestamp, IV) without a key,
//!   so the server can use the 16-byte IV as the token's nonce (it refuses a second
//!   use) and say how far off a client's clock is;
//! - [`Token::open`] checks the HMAC with a key and returns what the token was made for;
//! - [`check_time`] accepts a token made up to [`TTL_SECS`] before or after the server's
//!   time, and otherwise says by how much it missed.
//!
//! Reading the structure first and the time last is deliberate: only a token that
//! authenticates is told about the clock.

use base64::engine::general_purpose::URL_SAFE;
use base64::Engine;
use pyk_protocol::request;
use pyk_protocol::Sha256;

use crate::Key;

/// How far a token's time may be from the server's, either way, in seconds.
pub const TTL_SECS: u64 = 60;
/// A token's nonce: its Fernet IV.
pub type Nonce = [u8; 16];

/// Fernet: version, timestamp, IV, at least one AES block, HMAC.
const MIN_LEN: usize = 1 + 8 + 16 + 16 + 32;
/// Longer headers are refused unread (a request token is ~250 characters).
const MAX_HEADER: usize = 4096;

/// The `Authorization` value for one request; `body` as `pyk_protocol::request` says.
pub fn authorization(key: &Key, method: &str, target: &str, body: Option<&Sha256>) -> String {
    let plain = request::canonical(method, target, body);
    format!("Pyk {}", key.fernet().encrypt(plain.as_bytes()))
}

/// Like [`authorization`], with the token's time set to `unix_secs`: for tests and tools
/// that need a token from another time (anyone with the key can make one).
pub fn authorization_at(
    key: &Key,
    method: &str,
    target: &str,
    body: Option<&Sha256>,
    unix_secs: u64,
) -> String {
    let plain = request::canonical(method, target, body);
    format!(
        "Pyk {}",
        key.fernet().encrypt_at_time(plain.as_bytes(), unix_secs)
    )
}

/// Why an `Authorization` value is not a token at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the Authorization header is not `Pyk <token>`")]
    NotPyk,
    #[error("the request token is malformed")]
    Malformed,
}

/// A token's structure, read without a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token<'a> {
    text: &'a str,
    /// Unix seconds, as the maker's clock said.
    pub timestamp: u64,
    pub nonce: Nonce,
}

/// What a token was made for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub method: String,
    /// Path and query, as the request sent them.
    pub target: String,
    /// The body's sha256 (or, for a blob upload, the blob's id); `None` for no body.
    pub body: Option<Sha256>,
}

/// Reads an `Authorization` header value's token.
pub fn parse(header: &str) -> Result<Token<'_>, TokenError> {
    let text = header
        .strip_prefix("Pyk ")
        .ok_or(TokenError::NotPyk)?
        .trim();
    if text.len() > MAX_HEADER {
        return Err(TokenError::Malformed);
    }
    let bytes = URL_SAFE.decode(text).map_err(|_| TokenError::Malformed)?;
    if bytes.len() < MIN_LEN || !(bytes.len() - MIN_LEN).is_multiple_of(16) || bytes[0] != 0x80 {
        return Err(TokenError::Malformed);
    }
    let timestamp = u64::from_be_bytes(bytes[1..9].try_into().expect("8 bytes"));
    let nonce = bytes[9..25].try_into().expect("16 bytes");
    Ok(Token {
        text,
        timestamp,
        nonce,
    })
}

impl Token<'_> {
    /// What the token was made for, if `key` made it (its HMAC holds) and it holds a
    /// canonical request string.
    pub fn open(&self, key: &Key) -> Option<Claims> {
        // The time is the caller's to judge (see `check_time`): decrypting "at" the
        // token's own time skips only fernet's clock checks, never its HMAC.
        let plain = key
            .fernet()
            .decrypt_at_time(self.text, None, self.timestamp)
            .ok()?;
        let plain = std::str::from_utf8(&plain).ok()?;
        let (method, target, body) = request::parse(plain)?;
        Some(Claims {
            method: method.to_owned(),
            target: target.to_owned(),
            body,
        })
    }
}

/// A token's time is off by more than [`TTL_SECS`]: by `0` seconds (positive when the
/// token is from the server's future).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Skew(pub i64);

impl std::fmt::Display for Skew {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.0.unsigned_abs();
        if self.0 > 0 {
            write!(
                f,
                "the request token was made {secs} s in the server's future"
            )?;
        } else {
            write!(
                f,
                "the request token was made {secs} s before the server's now"
            )?;
        }
        write!(
            f,
            " (allowed: {TTL_SECS} s): the client's clock and the server's differ, or the token is old"
        )
    }
}

/// Whether a token made at `timestamp` is acceptable at `now` (Unix seconds).
pub fn check_time(timestamp: u64, now: u64) -> Result<(), Skew> {
    let skew = i64::try_from(timestamp)
        .unwrap_or(i64::MAX)
        .saturating_sub(i64::try_from(now).unwrap_or(i64::MAX));
    if skew.unsigned_abs() > TTL_SECS {
        Err(Skew(skew))
    } else {
        Ok(())
    }
}

/// Until when (Unix seconds) a token made at `timestamp` must be remembered: past that,
/// [`check_time`] refuses it anyway.
pub fn remember_until(timestamp: u64) -> u64 {
    timestamp.saturating_add(TTL_SECS + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bound_to_key_method_target_and_body() {
        let key = Key::from_config("secret");
        let body = Sha256::of(b"{\"version\":\"2\"}");
        let h = authorization(&key, "POST", "/v1/packages/run/x/promote", Some(&body));
        let token = parse(&h).unwrap();
        let claims = token.open(&key).unwrap();
        assert_eq!(
            claims,
            Claims {
                method: "POST".into(),
                target: "/v1/packages/run/x/promote".into(),
                body: Some(body),
            }
        );
        assert_eq!(token.open(&Key::from_config("other")), None);
        let get = authorization(&key, "GET", "/v1/packages", None);
        let again = parse(&get).unwrap();
        assert_ne!(again.nonce, token.nonce);
        assert_eq!(again.open(&key).unwrap().body, None);
        assert_eq!(parse("Pyk garbage"), Err(TokenError::Malformed));
        assert_eq!(parse("Bearer x"), Err(TokenError::NotPyk));
        assert_eq!(parse(""), Err(TokenError::NotPyk));
        // A v1 token (plain "METHOD PATH") authenticates but claims nothing.
        let v1 = format!("Pyk {}", key.fernet().encrypt(b"GET /v1/packages"));
        assert_eq!(parse(&v1).unwrap().open(&key), None);
    }

    #[test]
    fn time_window() {
        let key = Key::generate();
        let old = authorization_at(&key, "GET", "/v1/packages", None, 1_000);
        let token = parse(&old).unwrap();
        assert_eq!(token.timestamp, 1_000);
        // Still authentic long after: the time is judged apart.
        assert!(token.open(&key).is_some());
        assert_eq!(check_time(1_000, 1_060), Ok(()));
        assert_eq!(check_time(1_000, 940), Ok(()));
        assert_eq!(check_time(1_000, 1_061), Err(Skew(-61)));
        assert_eq!(check_time(1_000, 900), Err(Skew(100)));
        assert!(Skew(100)
            .to_string()
            .contains("100 s in the server's future"));
        assert_eq!(remember_until(1_000), 1_061);
    }
}
