//! Blobs: content-addressed, stored and served encrypted exactly as uploaded.

use std::io::Read;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, ETAG, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc;

use crate::catalog::blocking;
use crate::http::{blob_id, json, not_modified, ApiError};
use crate::limits::{BodyError, LimitedBody, MAX_UPLOADS, UPLOAD_QUEUE_WAIT};
use crate::state::App;
use crate::upload::{Upload, UploadError};
use pyk_protocol::api::BlobRef;
use pyk_protocol::Sha256;

const CHUNK: usize = 64 * 1024;

fn etag(sha256: &Sha256) -> HeaderValue {
    HeaderValue::try_from(format!("\"{sha256}\"")).expect("hex is a valid header value")
}

fn no_such_blob(sha256: &Sha256) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, format!("no blob {sha256}"))
}

/// `HEAD`: lets a publisher skip blobs the server already has, whole: a stored blob not
/// verified since it last changed is re-read first, and a damaged one is answered 404,
/// so that the publisher uploads it again (see [`crate::verified`]).
pub async fn exists(
    State(app): State<Arc<App>>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let sha = blob_id(path)?;
    let len = app
        .verified
        .whole(app.catalog.store(), &app.auth.keys.read, sha)
        .await?
        .ok_or_else(|| no_such_blob(&sha))?;
    let mut response = StatusCode::OK.into_response();
    response
        .headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from(len));
    response.headers_mut().insert(ETAG, etag(&sha));
    Ok(response)
}

/// Streams the stored file: a reader thread feeds the connection chunk by chunk, so a
/// blob is never whole in memory.
pub async fn download(
    State(app): State<Arc<App>>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let sha = blob_id(path)?;
    let tag = etag(&sha);
    let store = app.catalog.store().clone();
    if not_modified(&headers, &tag) {
        blocking(move || store.blobs().stored_len(&sha))
            .await?
            .ok_or_else(|| no_such_blob(&sha))?;
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        response.headers_mut().insert(ETAG, tag);
        return Ok(response);
    }
    let blob = blocking(move || store.blobs().read(&sha))
        .await?
        .ok_or_else(|| no_such_blob(&sha))?;
    let mut response = Response::new(streamed(blob.reader));
    let h = response.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(CONTENT_LENGTH, HeaderValue::from(blob.len));
    h.insert(ETAG, tag);
    Ok(response)
}

/// A body fed from `reader` by a blocking thread, chunk by chunk, so a file is never
/// whole in memory.
pub(crate) fn streamed(mut reader: impl Read + Send + 'static) -> Body {
    let (tx, rx) = mpsc::channel::<std::io::Result<Bytes>>(4);
    tokio::task::spawn_blocking(move || loop {
        let mut buf = BytesMut::zeroed(CHUNK);
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                buf.truncate(n);
                // A closed channel means the client went away: stop reading.
                if tx.blocking_send(Ok(buf.freeze())).is_err() {
                    break;
                }
            }
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                break;
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async {
        rx.recv().await.map(|item| (item, rx))
    });
    Body::from_stream(stream)
}

/// `PUT`: stored only once it decrypts with the read key to plaintext whose sha256 is
/// the id. 201 if new, 200 if the server already had it (the upload replaces the stored
/// copy, which may be damaged). A declared length over the limit is refused before the
/// body is read: clients send `Expect: 100-continue` so that they then skip sending it.
/// At most [`MAX_UPLOADS`] run at once; one that waits [`UPLOAD_QUEUE_WAIT`] for a slot
/// is refused (503).
pub async fn upload(
    State(app): State<Arc<App>>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let sha = blob_id(path)?;
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > app.max_upload) {
        let e = BodyError::TooLarge(app.max_upload);
        return Err(ApiError::new(e.status(), e.message()));
    }
    let Ok(Ok(_slot)) = tokio::time::timeout(UPLOAD_QUEUE_WAIT, app.uploads.acquire()).await else {
        let mut busy = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{MAX_UPLOADS} uploads are in progress; try again shortly"),
        )
        .into_response();
        busy.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static("5"));
        return Ok(busy);
    };
    let upload = Upload::start(app.catalog.store().clone(), app.auth.keys.read.clone(), sha);
    let mut body = LimitedBody::new(body, app.max_upload);
    loop {
        match body.next().await {
            Ok(Some(chunk)) => {
                if !upload.send(chunk).await {
                    // Refused already: read the rest (within the limits) so a client
                    // that sends its whole body before reading sees the reason, not a
                    // reset connection.
                    while let Ok(Some(_)) = body.next().await {}
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => {
                upload.abort(&e.message()).await;
                return Err(ApiError::new(e.status(), e.message()).with_code(e.code()));
            }
        }
    }
    match upload.finish().await {
        Ok(stored) => {
            if let Some(stamp) = stored.stamp {
                app.verified.record(sha, stamp);
            }
            let status = if stored.created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok(json(
                status,
                &BlobRef {
                    sha256: sha.to_string(),
                    size: stored.plaintext_len,
                },
            ))
        }
        Err(e @ (UploadError::Refused(_) | UploadError::WrongId { .. })) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            crate::log::with_causes(&e),
        )),
        Err(UploadError::Store(e)) => Err(e.into()),
    }
}
