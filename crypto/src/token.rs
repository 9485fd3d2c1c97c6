//! Request tokens: a Fernet token of `"METHOD PATH"`, sent as `Authorization: Pyk TOKEN`.
//!
//! Binding the token to one method and path means a captured token opens nothing else,
//! and Fernet's timestamp means it opens nothing at all after [`TTL_SECS`]. Tokens are
//! plain Fernet tokens, so Python's `cryptography.fernet` makes and reads them too.

use crate::Key;

/// How long a request token is accepted (Fernet also allows 60 s of clock skew).
pub const TTL_SECS: u64 = 60;

/// The `Authorization` header value for a request.
pub fn authorization(key: &Key, method: &str, path: &str) -> String {
    format!(
        "Pyk {}",
        key.fernet().encrypt(format!("{method} {path}").as_bytes())
    )
}

/// Whether an `Authorization` header value was made with `key` for this request, within
/// the TTL.
pub fn verify(key: &Key, header: &str, method: &str, path: &str) -> bool {
    let Some(token) = header.strip_prefix("Pyk ") else {
        return false;
    };
    match key.fernet().decrypt_with_ttl(token.trim(), TTL_SECS) {
        Ok(plain) => {
            let expected = format!("{method} {path}");
            plain == expected.as_bytes()
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bound_to_key_method_and_path() {
        let key = Key::from_config("secret");
        let h = authorization(&key, "GET", "/v1/packages");
        assert!(verify(&key, &h, "GET", "/v1/packages"));
        assert!(!verify(&key, &h, "DELETE", "/v1/packages"));
        assert!(!verify(&key, &h, "GET", "/v1/blobs/x"));
        assert!(!verify(
            &Key::from_config("other"),
            &h,
            "GET",
            "/v1/packages"
        ));
        assert!(!verify(&key, "Pyk garbage", "GET", "/v1/packages"));
        assert!(!verify(&key, "", "GET", "/v1/packages"));
    }
}
