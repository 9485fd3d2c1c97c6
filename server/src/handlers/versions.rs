//! The versions of a package: list, read one (pinned machines), promote (and roll
//! back), yank, delete.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use crate::handlers::packages::{collect_garbage, manifest_response, no_package};
use crate::handlers::signed;
use crate::http::{check_version, json, package, package_version, read_json, ApiError};
use crate::state::App;
use crate::store::label;
use pyk_protocol::api::{LatestPointer, PromoteRequest, Signature, YankRequest};

pub async fn list(
    State(app): State<Arc<App>>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, ApiError> {
    let (kind, name) = package(path)?;
    match app.catalog.versions(kind, &name).await? {
        Some(list) => Ok(json(StatusCode::OK, &list)),
        None => Err(no_package(kind, &name)),
    }
}

/// One version's manifest, with the same ETag the latest would have, so a machine
/// pinned to a version asks as cheaply as one following the latest.
pub async fn get(
    State(app): State<Arc<App>>,
    path: Result<Path<(String, String, String)>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (kind, name, version) = package_version(path)?;
    match app.catalog.version(kind, &name, &version).await? {
        Some(current) => Ok(manifest_response(&current, &headers)),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("{} has no version {version}", label(kind, &name)),
        )),
    }
}

/// `POST …/promote`: moves `latest` to any version that is not yanked; to an older one
/// it is the rollback.
pub async fn promote(
    State(app): State<Arc<App>>,
    path: Result<Path<(String, String)>, PathRejection>,
    body: Body,
) -> Result<Response, ApiError> {
    let (kind, name) = package(path)?;
    let PromoteRequest { version, latest } = read_json(body, "promote request").await?;
    check_version(&version)?;
    signed::check_pointer(kind, &name, latest.as_ref())?;
    let manifest = app.catalog.promote(kind, &name, version, latest).await?;
    Ok(json(StatusCode::OK, &manifest))
}

pub async fn yank(
    State(app): State<Arc<App>>,
    path: Result<Path<(String, String, String)>, PathRejection>,
    body: Body,
) -> Result<Response, ApiError> {
    let (kind, name, version) = package_version(path)?;
    let YankRequest { yanked, latest } = read_json(body, "yank request").await?;
    signed::check_pointer(kind, &name, latest.as_ref())?;
    let manifest = app
        .catalog
        .yank(kind, &name, version, yanked, latest)
        .await?;
    Ok(json(StatusCode::OK, &manifest))
}

/// `?force=true`, and when the delete moves `latest` (it is the latest), the signed
/// pointer to where it goes: `latest`, `issued`, `key`, `sig` (a DELETE has no body;
/// the query is covered by the request token all the same).
#[derive(Deserialize)]
pub struct DeleteQuery {
    #[serde(default)]
    force: bool,
    latest: Option<String>,
    issued: Option<u64>,
    key: Option<String>,
    sig: Option<String>,
}

impl DeleteQuery {
    fn pointer(&mut self) -> Result<Option<LatestPointer>, ApiError> {
        match (
            self.latest.take(),
            self.issued,
            self.key.take(),
            self.sig.take(),
        ) {
            (None, None, None, None) => Ok(None),
            (Some(version), Some(issued), Some(key), Some(sig)) => Ok(Some(LatestPointer {
                version,
                issued,
                signature: Signature { key, sig },
            })),
            _ => Err(ApiError::bad_request(
                "a latest statement needs all of latest, issued, key and sig",
            )),
        }
    }
}

pub async fn delete(
    State(app): State<Arc<App>>,
    path: Result<Path<(String, String, String)>, PathRejection>,
    query: Result<Query<DeleteQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let (kind, name, version) = package_version(path)?;
    let Query(mut query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let pointer = query.pointer()?;
    signed::check_pointer(kind, &name, pointer.as_ref())?;
    app.catalog
        .delete_version(kind, &name, version.clone(), query.force, pointer)
        .await?;
    collect_garbage(&app);
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "deleted": format!("{}/{name}@{version}", kind.as_str()) }),
    ))
}
