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
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::catalog::{blocking, Current, Resolved, REVALIDATE};
use crate::handlers::signed;
use crate::limits::{LimitedBody, GC_GRACE, MAX_JSON, WATCH_DEFAULT, WATCH_MAX};
use crate::routes::{check_version, json, package, with_causes, with_json_type, ApiError, App};
use crate::store::label;
use pyk_protocol::api::{
    LocalnameRequest, PackageList, PublishRequest, PublishResponse, FORMAT_FILE, FORMAT_PYK,
};
use pyk_protocol::names::{valid_localname, valid_name, valid_python, MAX_LOCALNAME};
use pyk_protocol::{Kind, Sha256};

/// A manifest is at most this many blobs.
const MAX_BLOBS: usize = 100_000;

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
    let mut response = if !current.yanked && crate::routes::not_modified(headers, &current.etag) {
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
    check_request(&request)?;
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

/// A small JSON request body (`what` names it in the error).
pub async fn read_json<T: DeserializeOwned>(body: Body, what: &str) -> Result<T, ApiError> {
    let bytes = LimitedBody::new(body, MAX_JSON)
        .collect()
        .await
        .map_err(|e| ApiError::new(e.status(), e.message()).with_code(e.code()))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("invalid {what}: {e}")))
}

fn check_request(r: &PublishRequest) -> Result<(), ApiError> {
    if r.artifact_sha256.parse::<Sha256>().is_err() {
        return Err(ApiError::bad_request(
            "artifact_sha256 must be 64 lowercase hex digits",
        ));
    }
    if let Some(version) = &r.version {
        check_version(version)?;
    }
    if let Some(localname) = r.signed_localname.as_ref().filter(|l| !valid_localname(l)) {
        return Err(ApiError::bad_request(format!(
            "invalid signed local name {localname:?}: a plain file name of 1 to \
             {MAX_LOCALNAME} characters"
        )));
    }
    let python_ok = match r.format.as_str() {
        FORMAT_PYK => valid_python(&r.python),
        // A file need not be Python at all; if it names a Python, it names one properly.
        FORMAT_FILE => r.python.is_empty() || valid_python(&r.python),
        other => {
            return Err(ApiError::bad_request(format!(
                "format must be {FORMAT_PYK:?} or {FORMAT_FILE:?}, not {other:?}"
            )))
        }
    };
    if !python_ok {
        return Err(ApiError::bad_request(format!(
            "python must look like \"3.11\", not {:?}",
            r.python
        )));
    }
    if r.blobs.is_empty() || r.blobs.len() > MAX_BLOBS {
        return Err(ApiError::bad_request(format!(
            "a package has 1 to {MAX_BLOBS} blobs"
        )));
    }
    let mut total = 0u64;
    for blob in &r.blobs {
        if blob.sha256.parse::<Sha256>().is_err() {
            return Err(ApiError::bad_request(format!(
                "blob id {:?} is not 64 lowercase hex digits",
                blob.sha256
            )));
        }
        total = total
            .checked_add(blob.size)
            .ok_or_else(|| ApiError::bad_request("blob sizes overflow"))?;
    }
    if total != r.size {
        return Err(ApiError::bad_request(format!(
            "size is {} but the blobs add up to {total}",
            r.size
        )));
    }
    if let Some(api) = &r.api {
        if api.sha256.parse::<Sha256>().is_err() {
            return Err(ApiError::bad_request(format!(
                "api blob id {:?} is not 64 lowercase hex digits",
                api.sha256
            )));
        }
    }
    Ok(())
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
    tokio::spawn(async move {
        if let Err(e) = blocking(move || store.collect_garbage(GC_GRACE)).await {
            eprintln!("pyk: garbage collection failed: {}", with_causes(&e));
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
