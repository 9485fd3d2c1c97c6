//! The versions of a package: list, read one (pinned machines), promote (and roll
//! back), yank, delete.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use crate::handlers::packages::{collect_garbage, manifest_response, no_package, read_json};
use crate::routes::{check_version, json, package, package_version, ApiError, App};
use crate::store::label;
use pyk_protocol::api::{PromoteRequest, YankRequest};

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
    let PromoteRequest { version } = read_json(body, "promote request").await?;
    check_version(&version)?;
    let manifest = app.catalog.promote(kind, &name, version).await?;
    Ok(json(StatusCode::OK, &manifest))
}

pub async fn yank(
    State(app): State<Arc<App>>,
    path: Result<Path<(String, String, String)>, PathRejection>,
    body: Body,
) -> Result<Response, ApiError> {
    let (kind, name, version) = package_version(path)?;
    let YankRequest { yanked } = read_json(body, "yank request").await?;
    let manifest = app.catalog.yank(kind, &name, version, yanked).await?;
    Ok(json(StatusCode::OK, &manifest))
}

#[derive(Deserialize)]
pub struct DeleteQuery {
    #[serde(default)]
    force: bool,
}

pub async fn delete(
    State(app): State<Arc<App>>,
    path: Result<Path<(String, String, String)>, PathRejection>,
    query: Result<Query<DeleteQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let (kind, name, version) = package_version(path)?;
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    app.catalog
        .delete_version(kind, &name, version.clone(), query.force)
        .await?;
    collect_garbage(&app);
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "deleted": format!("{}/{name}@{version}", kind.as_str()) }),
    ))
}
