//! What a request names, validated before any handler acts on it: the `{kind}/{name}`,
//! version and blob id of its path (checked after percent-decoding), and its small JSON
//! body (bounded).

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::Path;
use pyk_protocol::names::{valid_name, valid_version, VERSION_RULE};
use pyk_protocol::{Kind, Sha256};
use serde::de::DeserializeOwned;

use super::ApiError;
use crate::limits::{LimitedBody, MAX_JSON};

/// The `{kind}/{name}` of a package URL, validated: names are the artifact format's
/// (no `/`, `..`, control characters, nothing empty).
pub fn package(
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<(Kind, String), ApiError> {
    let Path((kind, name)) = path.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let kind = Kind::parse(&kind)
        .ok_or_else(|| ApiError::bad_request(format!("kind must be run or lib, not {kind:?}")))?;
    if !valid_name(&name) {
        return Err(ApiError::bad_request(format!(
            "invalid package name {name:?}"
        )));
    }
    Ok((kind, name))
}

/// 400 unless `version` is one [`valid_version`] accepts.
pub fn check_version(version: &str) -> Result<(), ApiError> {
    if valid_version(version) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "invalid version {version:?}: {VERSION_RULE}"
        )))
    }
}

/// The `{kind}/{name}/…/{version}` of a version URL, validated like [`package`], the
/// version by [`valid_version`].
pub fn package_version(
    path: Result<Path<(String, String, String)>, PathRejection>,
) -> Result<(Kind, String, String), ApiError> {
    let Path((kind, name, version)) = path.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let (kind, name) = package(Ok(Path((kind, name))))?;
    check_version(&version)?;
    Ok((kind, name, version))
}

pub fn blob_id(path: Result<Path<String>, PathRejection>) -> Result<Sha256, ApiError> {
    let Path(sha) = path.map_err(|e| ApiError::bad_request(e.body_text()))?;
    sha.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "blob id must be 64 lowercase hex digits, not {sha:?}"
        ))
    })
}

/// A small JSON request body (`what` names it in the error).
pub async fn read_json<T: DeserializeOwned>(body: Body, what: &str) -> Result<T, ApiError> {
    let bytes = LimitedBody::new(body, MAX_JSON)
        .collect()
        .await
        .map_err(|e| ApiError::new(e.status(), e.message()).with_code(e.code()))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("invalid {what}: {e}")))
}
