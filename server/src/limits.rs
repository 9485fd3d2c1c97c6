//! Limits that keep one client from holding the server: slow headers, stalled or
//! crawling bodies, oversized uploads, too many uploads at once.
//!
//! Every request body must keep moving: no pause longer than [`BODY_STALL_TIMEOUT`], and
//! after [`BODY_GRACE`] it must have averaged [`BODY_MIN_RATE`] (a body sent at a byte a
//! minute is gone after ~30 s, not hours), and it must end within [`BODY_DEADLINE`].
//! Uploads also take one of [`MAX_UPLOADS`] slots (each holds a blocking thread while it
//! verifies), so the blocking threads readers need are never all taken by writers.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::StatusCode;
use bytes::Bytes;
use http_body_util::BodyExt;

/// A connection that has not sent a whole request head by then is closed (slowloris).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// A request body that makes no progress for this long is abandoned.
pub const BODY_STALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a body may take before [`BODY_MIN_RATE`] applies.
pub const BODY_GRACE: Duration = Duration::from_secs(30);
/// The slowest average rate a body may keep after [`BODY_GRACE`], in bytes a second.
pub const BODY_MIN_RATE: u64 = 16 * 1024;
/// No body takes longer than this, however fast it moves (1 GiB at ~150 KB/s).
pub const BODY_DEADLINE: Duration = Duration::from_secs(2 * 3600);
/// Uploads verified at once; more wait up to [`UPLOAD_QUEUE_WAIT`] for a slot.
pub const MAX_UPLOADS: usize = 16;
/// How long an upload waits for a slot before it is refused (503).
pub const UPLOAD_QUEUE_WAIT: Duration = Duration::from_secs(10);
/// Stored blobs re-read at once to answer a HEAD (see `verified.rs`).
pub const MAX_VERIFYING: usize = 2;
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
    /// Slower than [`BODY_MIN_RATE`], or past [`BODY_DEADLINE`].
    TooSlow,
    /// Not the body the request token was made for.
    Unbound,
    Broken(String),
}

impl BodyError {
    pub fn status(&self) -> StatusCode {
        match self {
            BodyError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::Stalled | BodyError::TooSlow => StatusCode::REQUEST_TIMEOUT,
            BodyError::Unbound => StatusCode::UNAUTHORIZED,
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
            BodyError::TooSlow => format!(
                "request body too slow: under {} KiB/s after {} s, or longer than {} s",
                BODY_MIN_RATE / 1024,
                BODY_GRACE.as_secs(),
                BODY_DEADLINE.as_secs()
            ),
            BodyError::Unbound => crate::binding::BodyMismatch.to_string(),
            BodyError::Broken(e) => format!("request body could not be read: {e}"),
        }
    }

    /// The `code` of the error body, if it has one.
    pub fn code(&self) -> Option<&'static str> {
        matches!(self, BodyError::Unbound).then_some(pyk_protocol::api::CODE_BODY)
    }
}

/// Reads a request body chunk by chunk, enforcing a size limit, the stall timeout, the
/// minimum rate and the deadline.
pub struct LimitedBody {
    body: Body,
    max: u64,
    seen: u64,
    started: Instant,
}

impl LimitedBody {
    pub fn new(body: Body, max: u64) -> LimitedBody {
        LimitedBody {
            body,
            max,
            seen: 0,
            started: Instant::now(),
        }
    }

    /// When the body is too slow unless more arrives: the minimum rate allows
    /// [`BODY_GRACE`] plus a second per [`BODY_MIN_RATE`] bytes received so far.
    fn too_slow_at(&self) -> Instant {
        let earned = Duration::from_secs_f64(self.seen as f64 / BODY_MIN_RATE as f64);
        self.started + (BODY_GRACE + earned).min(BODY_DEADLINE)
    }

    /// The next chunk of data, or None at the end.
    pub async fn next(&mut self) -> Result<Option<Bytes>, BodyError> {
        loop {
            let stall = Instant::now() + BODY_STALL_TIMEOUT;
            let slow = self.too_slow_at();
            let frame = tokio::time::timeout_at(stall.min(slow).into(), self.body.frame())
                .await
                .map_err(|_| {
                    if slow <= stall {
                        BodyError::TooSlow
                    } else {
                        BodyError::Stalled
                    }
                })?;
            let Some(frame) = frame else { return Ok(None) };
            let frame = frame.map_err(|e| {
                let text = e.to_string();
                if crate::binding::is_mismatch(e) {
                    BodyError::Unbound
                } else {
                    BodyError::Broken(text)
                }
            })?;
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
