//! Packages: list, read the latest (the runners' hot path), publish, set the local name,
//! remove, watch.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::header::ETAG;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::catalog::{blocking, Current, Resolved, REVALIDATE};
use crate::handlers::signed;
use crate::http::{json, not_modified, package, read_json, with_json_type, ApiError};
use crate::limits::{GC_GRACE, WATCH_DEFAULT, WATCH_MAX};
use crate::log;
use crate::state::App;
use crate::store::{label, Refusal};
use pyk_protocol::api::{LocalnameRequest, PackageList, PublishRequest, PublishResponse};
use pyk_protocol::names::{valid_localname, valid_name, MAX_LOCALNAME};
use pyk_protocol::Kind;

pub async fn list(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    let store = app.catalog.store().clone();
    let packages = blocking(move || store.registry().list()).await?;
    Ok(json(StatusCode::OK, &PackageList { packages }))
}

pub async fn current(
    State(app): State<Arc<App>>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (kind, name) = package(path)?;
    match app.catalog.current(kind, &name).await? {
        Resolved::Current(current) => Ok(manifest_response(&current, &headers)),
        Resolved::Unpromoted => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("{} has no promoted version", label(kind, &name)),
        )),
        Resolved::NoPackage => Err(no_package(kind, &name)),
    }
}

/// The 404 for a package that has neither a version nor a local name.
pub fn no_package(kind: Kind, name: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no package {}/{name}", kind.as_str()),
    )
}

/// A manifest with its ETag, or 304 if the client has it. Never 304 for a yanked
/// version: the ETag names the bytes, which a yank leaves alone, and the client asking
/// again is the one that should learn of the yank.
pub fn manifest_response(current: &Current, headers: &HeaderMap) -> Response {
    let mut response = if !current.yanked && not_modified(headers, &current.etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        with_json_type(StatusCode::OK, Body::from(current.json.clone()))
    };
    response.headers_mut().insert(ETAG, current.etag.clone());
    response
}

pub async fn publish(
    State(app): State<Arc<App>>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let (kind, name) = package(path)?;
    let request: PublishRequest = read_json(body, "publish request").await?;
    pyk_registry::check_publish(&request).map_err(Refusal::from)?;
    signed::check_publish(kind, &name, &request)?;
    let publisher = headers
        .get("x-pyk-node")
        .and_then(|v| v.to_str().ok())
        .filter(|v| valid_name(v))
        .unwrap_or("unknown")
        .to_owned();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let manifest = app
        .catalog
        .publish(kind, &name, request, publisher, now)
        .await?;
    Ok(json(
        StatusCode::CREATED,
        &PublishResponse {
            version: manifest.version.clone(),
            manifest,
        },
    ))
}

pub async fn remove(
    State(app): State<Arc<App>>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, ApiError> {
    let (kind, name) = package(path)?;
    if !app.catalog.remove(kind, &name).await? {
        return Err(no_package(kind, &name));
    }
    collect_garbage(&app);
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "removed": format!("{}/{name}", kind.as_str()) }),
    ))
}

/// Deletes the blobs a removal left unreferenced, in the background: reclaiming space
/// need not delay the answer, and a failure only leaves blobs behind.
pub fn collect_garbage(app: &App) {
    let store = app.catalog.store().clone();
    let metrics = app.metrics.clone();
    tokio::spawn(async move {
        if let Err(e) = blocking(move || store.collect_garbage(GC_GRACE)).await {
            metrics.store_error();
            log::warning(format_args!(
                "garbage collection failed: {}",
                log::with_causes(&e)
            ));
        }
    });
}

/// `PUT …/localname`: the file name a pull writes the package to.
pub async fn set_localname(
    State(app): State<Arc<App>>,
    path: Result<Path<(String, String)>, PathRejection>,
    body: Body,
) -> Result<Response, ApiError> {
    let (kind, name) = package(path)?;
    let LocalnameRequest { localname } = read_json(body, "local name request").await?;
    if !valid_localname(&localname) {
        return Err(ApiError::bad_request(format!(
            "invalid local name {localname:?}: a plain file name of 1 to {MAX_LOCALNAME} \
             bytes, without '/' or control characters, and not '.' or '..'"
        )));
    }
    app.catalog
        .set_localname(kind, &name, localname.clone())
        .await?;
    Ok(json(StatusCode::OK, &LocalnameRequest { localname }))
}

/// `GET …/next`: the automatic version a publish would get, and the newest pointer time
/// the package accepted; what a signing publisher needs first.
pub async fn next(
    State(app): State<Arc<App>>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, ApiError> {
    let (kind, name) = package(path)?;
    Ok(json(StatusCode::OK, &app.catalog.next(kind, &name).await?))
}

#[derive(Deserialize)]
pub struct WatchQuery {
    after: Option<String>,
    timeout: Option<u64>,
}

/// Long-poll: answers with the latest manifest as soon as its version differs from
/// `after` (a promote or a rollback as much as a publish), or 304 at the timeout (or
/// when the server shuts down, so the client simply asks again). While nothing is
/// promoted there is nothing to answer with, so it waits.
pub async fn watch(
    State(app): State<Arc<App>>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<WatchQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let (kind, name) = package(path)?;
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let timeout = query
        .timeout
        .map(Duration::from_secs)
        .unwrap_or(WATCH_DEFAULT)
        .min(WATCH_MAX);
    let deadline = tokio::time::Instant::now() + timeout;
    let mut changes = app.catalog.subscribe();
    let mut shutdown = app.shutdown.clone();
    loop {
        // Marked seen before looking, so a write between the look and the wait still
        // wakes this loop.
        changes.borrow_and_update();
        if let Resolved::Current(current) = app.catalog.current(kind, &name).await? {
            if query.after.as_deref() != Some(current.version.as_str()) {
                return Ok(manifest_response(&current, &HeaderMap::new()));
            }
        }
        // Writes made elsewhere wake nothing here: look again at the pace cached
        // answers are revalidated.
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { break },
            _ = tokio::time::sleep(REVALIDATE) => {}
            _ = tokio::time::sleep_until(deadline) => break,
            _ = shutdown.wait_for(|down| *down) => break,
        }
    }
    Ok(StatusCode::NOT_MODIFIED.into_response())
}
