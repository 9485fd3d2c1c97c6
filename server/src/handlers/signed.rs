//! Signatures that come with a request are checked for what the server can know: that
//! each is valid for the key it names, over the statement the request makes. Whether
//! that key is trusted is every client's own decision (the server holds no list); a
//! malformed or mismatched signature is refused here so that no client is ever served
//! one.

use pyk_crypto::sign;
use pyk_protocol::api::{LatestPointer, PublishRequest};
use pyk_protocol::statement::{now_ms, too_far_ahead, MAX_SKEW_MS};
use pyk_protocol::Kind;

use crate::http::{check_version, ApiError};

/// 400 unless the publish's version signature, if any, holds.
pub fn check_publish(kind: Kind, name: &str, request: &PublishRequest) -> Result<(), ApiError> {
    if let Some(signature) = &request.signature {
        let Some(version) = &request.version else {
            return Err(ApiError::bad_request(
                "a signed publish names its version (GET …/next tells the automatic one)",
            ));
        };
        sign::check_version(&request.statement(kind, name, version), signature)
            .map_err(|e| ApiError::bad_request(format!("the version's signature: {e}")))?;
    }
    check_pointer(kind, name, request.latest.as_ref())
}

/// 400 unless a signed pointer, if any, holds and is not dated in this server's future
/// (beyond the skew clocks are allowed): one that outranked every genuine pointer to
/// come would freeze every client that took it.
pub fn check_pointer(
    kind: Kind,
    name: &str,
    pointer: Option<&LatestPointer>,
) -> Result<(), ApiError> {
    if let Some(p) = pointer {
        check_version(&p.version)?;
        sign::check(&p.statement(kind, name), &p.signature)
            .map_err(|e| ApiError::bad_request(format!("the latest statement's signature: {e}")))?;
        if let Some(ahead) = too_far_ahead(p.issued, now_ms()) {
            return Err(ApiError::bad_request(format!(
                "the latest statement is dated {} s ahead of this server's clock (issued {} ms): \
                 check the publisher's clock",
                (ahead + MAX_SKEW_MS) / 1000,
                p.issued
            )));
        }
    }
    Ok(())
}
