//! Limits that keep one client from holding the server: slow headers, stalled bodies,
//! oversized uploads.

use std::time::Duration;

use axum::body::Body;
use axum::http::StatusCode;
use bytes::Bytes;
use http_body_util::BodyExt;

/// A connection that has not sent a whole request head by then is closed (slowloris).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// A request body that makes no progress for this long is abandoned.
pub const BODY_STALL_TIMEOUT: Duration = Duration::from_secs(30);
/// JSON request bodies (a manifest of thousands of blobs fits easily).
pub const MAX_JSON: u64 = 4 << 20;
/// Long-polls wait this long unless told otherwise, and never longer than the max.
pub const WATCH_DEFAULT: Duration = Duration::from_secs(30);
pub const WATCH_MAX: Duration = Duration::from_secs(300);
/// Unreferenced blobs younger than this survive garbage collection: they may belong to
/// a publish whose blobs are uploaded but whose manifest is not yet posted.
pub const GC_GRACE: Duration = Duration::from_secs(3600);
/// A graceful shutdown waits this long for requests in flight, then returns anyway.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(60);

/// Why a request body could not be read.
#[derive(Debug)]
pub enum BodyError {
    TooLarge(u64),
    Stalled,
    Broken(String),
}

impl BodyError {
    pub fn status(&self) -> StatusCode {
        match self {
            BodyError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::Stalled => StatusCode::REQUEST_TIMEOUT,
            BodyError::Broken(_) => StatusCode::BAD_REQUEST,
        }
    }

    pub fn message(&self) -> String {
        match self {
            BodyError::TooLarge(max) => {
                format!("request body is larger than the limit of {max} bytes")
            }
            BodyError::Stalled => format!(
                "request body stalled for {} s",
                BODY_STALL_TIMEOUT.as_secs()
            ),
            BodyError::Broken(e) => format!("request body could not be read: {e}"),
        }
    }
}

/// Reads a request body chunk by chunk, enforcing a size limit and the stall timeout.
pub struct LimitedBody {
    body: Body,
    max: u64,
    seen: u64,
}

impl LimitedBody {
    pub fn new(body: Body, max: u64) -> LimitedBody {
        LimitedBody { body, max, seen: 0 }
    }

    /// The next chunk of data, or None at the end.
    pub async fn next(&mut self) -> Result<Option<Bytes>, BodyError> {
        loop {
            let frame = tokio::time::timeout(BODY_STALL_TIMEOUT, self.body.frame())
                .await
                .map_err(|_| BodyError::Stalled)?;
            let Some(frame) = frame else { return Ok(None) };
            let frame = frame.map_err(|e| BodyError::Broken(e.to_string()))?;
            if let Ok(data) = frame.into_data() {
                self.seen += data.len() as u64;
                if self.seen > self.max {
                    return Err(BodyError::TooLarge(self.max));
                }
                return Ok(Some(data));
            }
        }
    }

    /// The whole body in memory: only for small JSON bodies.
    pub async fn collect(mut self) -> Result<Vec<u8>, BodyError> {
        let mut out = Vec::new();
        while let Some(chunk) = self.next().await? {
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }
}
