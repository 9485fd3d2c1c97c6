//! `POST /v1/gc` (write key): applies the server's retention policy, then collects the
//! blobs no version references any more; dry, only says which versions would go.
//!
//! Versions are deleted one by one through the catalog (each drops its cached answers),
//! never `latest`: a version that became latest since the plan was made is refused by
//! the store and kept. Blobs then go through the usual sweep, which keeps every blob a
//! version references and those younger than the blob grace (a publish uploads its
//! blobs before its manifest), under the registry's publish lock on the directory store
//! and by rereading recent manifests on a bucket.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use pyk_protocol::api::{GcRequest, GcResponse};

use crate::catalog::blocking;
use crate::http::{json, read_json, ApiError};
use crate::state::App;
use crate::store::{Refusal, StoreError};

pub async fn run(State(app): State<Arc<App>>, body: Body) -> Result<Response, ApiError> {
    let GcRequest { dry_run } = read_json(body, "gc request").await?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let store = app.catalog.store().clone();
    let retention = app.gc.retention.clone();
    let plan = blocking(move || retention.plan(store.registry(), now)).await?;
    let mut answer = GcResponse {
        dry_run,
        ..GcResponse::default()
    };
    if dry_run {
        answer.removed = plan;
        return Ok(json(StatusCode::OK, &answer));
    }
    for v in plan {
        match app
            .catalog
            .delete_version(v.kind, &v.name, v.version.clone(), false, None)
            .await
        {
            Ok(()) => answer.removed.push(v),
            // Promoted or deleted by someone else meanwhile: not ours to remove.
            Err(StoreError::Refused(Refusal::IsLatest { .. } | Refusal::NoVersion { .. })) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let store = app.catalog.store().clone();
    let grace = app.gc.blob_grace;
    let report = blocking(move || store.collect_garbage(grace)).await?;
    answer.blobs = report.blobs;
    answer.bytes = report.bytes;
    Ok(json(StatusCode::OK, &answer))
}
