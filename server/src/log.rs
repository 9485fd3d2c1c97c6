//! Everything the server writes, in one place: its notes to the operator (start, stop,
//! failures it lives with: [`note`], [`warning`], each error with its causes on one
//! line by [`with_causes`]), and with `-v` one line per request, written when the
//! response body has been sent (or abandoned), so bytes and milliseconds cover the
//! whole exchange. All of it goes to stderr.

use std::fmt::Display;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use axum::http::StatusCode;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};

/// A line for the operator, as it is (the banner's second line).
pub fn say(line: impl Display) {
    eprintln!("{line}");
}

/// A note for the operator: `pyk: …`.
pub fn note(line: impl Display) {
    eprintln!("pyk: {line}");
}

/// Something failed that the server lives with: `pyk: warning: …`.
pub fn warning(line: impl Display) {
    eprintln!("pyk: warning: {line}");
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

/// Counts the bytes of a request body as the handler reads them.
pub struct Received<B> {
    inner: B,
    count: Arc<AtomicU64>,
}

impl<B> Received<B> {
    pub fn new(inner: B) -> (Received<B>, Arc<AtomicU64>) {
        let count = Arc::new(AtomicU64::new(0));
        (
            Received {
                inner,
                count: count.clone(),
            },
            count,
        )
    }
}

impl<B: HttpBody<Data = Bytes> + Unpin> HttpBody for Received<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                self.count.fetch_add(data.len() as u64, Ordering::Relaxed);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// What the line says besides the response's own figures.
pub struct Line {
    pub who: String,
    pub method: String,
    pub path: String,
    pub status: StatusCode,
    pub started: Instant,
    pub received: Arc<AtomicU64>,
}

/// A response body that prints the request's line when it is dropped.
pub struct Logged {
    inner: Body,
    sent: u64,
    line: Line,
}

impl Logged {
    pub fn new(inner: Body, line: Line) -> Logged {
        Logged {
            inner,
            sent: 0,
            line,
        }
    }
}

impl HttpBody for Logged {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                self.sent += data.len() as u64;
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        let l = &self.line;
        note(format_args!(
            "{} {} {} {} sent={} received={} {}ms",
            l.who,
            l.method,
            l.path,
            l.status.as_u16(),
            self.sent,
            l.received.load(Ordering::Relaxed),
            l.started.elapsed().as_millis()
        ));
    }
}
