//! The string a request token signs (request tokens v2).
//!
//! A token is a Fernet token (so Python's `cryptography.fernet` can make one) whose
//! plaintext is exactly
//!
//! ```text
//! pyk-req-v2\n<METHOD>\n<path?query as sent>\n<body>
//! ```
//!
//! with no newline at the end. `<body>` is the lowercase hex sha256 of the request body,
//! or `-` when there is none (an empty body is none). The one exception is
//! `PUT /v1/blobs/<sha256>`: a blob is bound by its path (the server decrypts the stream
//! and checks its plaintext against `<sha256>`, so no one can swap it for other bytes),
//! and its `<body>` is that same `<sha256>`, which a client knows before it has
//! encrypted anything.
//!
//! Binding the body means a captured token opens only the exact request it was made
//! for; the server also refuses any second use of a token (see `pyk-server`).

use crate::Sha256;

/// The first line of every canonical request string.
pub const SCHEME: &str = "pyk-req-v2";

/// The canonical string a token for this request signs.
pub fn canonical(method: &str, target: &str, body: Option<&Sha256>) -> String {
    let body = body.map_or_else(|| "-".to_owned(), Sha256::to_string);
    format!("{SCHEME}\n{method}\n{target}\n{body}")
}

/// The blob a `PUT /v1/blobs/<sha256>` names: its body is bound by the path.
pub fn blob_put(method: &str, target: &str) -> Option<Sha256> {
    if method != "PUT" {
        return None;
    }
    target.strip_prefix("/v1/blobs/")?.parse().ok()
}

/// The `<body>` field of a request: the blob's id for a blob upload, else the sha256 of
/// a non-empty body.
pub fn body_field(method: &str, target: &str, body: &[u8]) -> Option<Sha256> {
    blob_put(method, target).or_else(|| (!body.is_empty()).then(|| Sha256::of(body)))
}

/// The parts of a canonical string, or `None` if it is not one.
pub fn parse(text: &str) -> Option<(&str, &str, Option<Sha256>)> {
    let rest = text.strip_prefix(SCHEME)?.strip_prefix('\n')?;
    let (method, rest) = rest.split_once('\n')?;
    let (target, body) = rest.split_once('\n')?;
    if method.is_empty() || target.is_empty() || body.contains('\n') {
        return None;
    }
    let body = match body {
        "-" => None,
        hex => Some(hex.parse().ok()?),
    };
    Some((method, target, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_strings() {
        assert_eq!(
            canonical("GET", "/v1/packages?x=1", None),
            "pyk-req-v2\nGET\n/v1/packages?x=1\n-"
        );
        let body = Sha256::of(b"{}");
        let text = canonical("POST", "/v1/packages/run/foo", Some(&body));
        assert_eq!(
            text,
            format!("pyk-req-v2\nPOST\n/v1/packages/run/foo\n{body}")
        );
        assert_eq!(
            parse(&text),
            Some(("POST", "/v1/packages/run/foo", Some(body)))
        );
        assert_eq!(parse("pyk-req-v2\nGET\n/x\n-\n"), None);
        assert_eq!(parse("GET /x"), None);
        let blob = format!("/v1/blobs/{body}");
        assert_eq!(body_field("PUT", &blob, b"encrypted"), Some(body));
        assert_eq!(body_field("POST", "/v1/x", b""), None);
        assert_eq!(body_field("POST", "/v1/x", b"{}"), Some(body));
    }
}
