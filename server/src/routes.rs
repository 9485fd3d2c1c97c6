//! The HTTP surface: routes, the shared state handlers see, and how errors are sent.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::Path;
use axum::http::header::{CONTENT_TYPE, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use serde::Serialize;
use tokio::sync::watch;

use crate::auth::Auth;
use crate::catalog::Catalog;
use crate::handlers::{blobs, packages, versions};
use crate::store::StoreError;
use pyk_protocol::api::{self, ErrorBody};
use pyk_protocol::names::{valid_name, valid_version, VERSION_RULE};
use pyk_protocol::{Kind, Sha256};

pub struct App {
    pub catalog: Arc<Catalog>,
    pub auth: Auth,
    pub max_upload: u64,
    /// Slots for uploads in progress (see [`crate::limits::MAX_UPLOADS`]).
    pub uploads: tokio::sync::Semaphore,
    /// Which stored blobs are known to be whole (see [`crate::verified`]).
    pub verified: crate::verified::Verified,
    /// Turns true when the server starts shutting down: long-polls answer at once.
    pub shutdown: watch::Receiver<bool>,
}

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/v1/packages", get(packages::list))
        .route(
            "/v1/packages/{kind}/{name}",
            get(packages::current)
                .post(packages::publish)
                .delete(packages::remove),
        )
        .route("/v1/packages/{kind}/{name}/watch", get(packages::watch))
        .route("/v1/packages/{kind}/{name}/next", get(packages::next))
        .route(
            "/v1/packages/{kind}/{name}/localname",
            put(packages::set_localname),
        )
        .route(
            "/v1/packages/{kind}/{name}/promote",
            post(versions::promote),
        )
        .route("/v1/packages/{kind}/{name}/versions", get(versions::list))
        .route(
            "/v1/packages/{kind}/{name}/versions/{version}",
            get(versions::get).delete(versions::delete),
        )
        .route(
            "/v1/packages/{kind}/{name}/versions/{version}/yank",
            post(versions::yank),
        )
        .route(
            "/v1/blobs/{sha256}",
            get(blobs::download).head(blobs::exists).put(blobs::upload),
        )
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such endpoint") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed here")
        })
        .with_state(app)
}

/// A 4xx/5xx answer with an [`ErrorBody`].
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// One of the protocol's `CODE_*`, for clients that act on the refusal.
    pub code: Option<&'static str>,
    /// With `CODE_CLOCK`: the token's time minus the server's, in seconds.
    pub skew: Option<i64>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            code: None,
            skew: None,
        }
    }

    pub fn with_code(mut self, code: Option<&'static str>) -> ApiError {
        self.code = code;
        self
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::VersionExists { .. } => ApiError::new(StatusCode::CONFLICT, e.to_string())
                .with_code(Some(api::CODE_VERSION_EXISTS)),
            StoreError::StaleLatest { .. } => ApiError::new(StatusCode::CONFLICT, e.to_string())
                .with_code(Some(api::CODE_STALE_LATEST)),
            StoreError::WrongLatest { .. } => ApiError::new(StatusCode::CONFLICT, e.to_string())
                .with_code(Some(api::CODE_WRONG_LATEST)),
            StoreError::MissingBlob(_)
            | StoreError::Yanked { .. }
            | StoreError::IsLatest { .. }
            | StoreError::Busy(_) => ApiError::new(StatusCode::CONFLICT, e.to_string()),
            StoreError::NoVersion { .. } => ApiError::new(StatusCode::NOT_FOUND, e.to_string()),
            _ => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, with_causes(&e)),
        }
    }
}

/// An error and its causes on one line (a store error's cause is what an operator
/// needs: the database's or the file system's own message).
pub fn with_causes(e: &dyn std::error::Error) -> String {
    let mut line = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        line.push_str(": ");
        line.push_str(&c.to_string());
        cause = c.source();
    }
    line
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json(
            self.status,
            &ErrorBody {
                error: self.message,
                code: self.code.map(str::to_owned),
                skew: self.skew,
            },
        )
    }
}

/// A JSON response.
pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => with_json_type(status, Body::from(body)),
        Err(e) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

pub fn with_json_type(status: StatusCode, body: Body) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// The `{kind}/{name}` of a package URL, validated: names are the artifact format's
/// (no `/`, `..`, control characters, nothing empty), checked after percent-decoding.
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

/// Whether `If-None-Match` names `etag` (or is `*`).
pub fn not_modified(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    let tag = etag.as_bytes();
    headers.get_all(IF_NONE_MATCH).iter().any(|value| {
        value.as_bytes().split(|&b| b == b',').any(|candidate| {
            let candidate = candidate.trim_ascii();
            let candidate = candidate.strip_prefix(b"W/").unwrap_or(candidate);
            candidate == tag || candidate == b"*"
        })
    })
}
