//! `-v`: one line per request on stderr, written when the response body has been sent
//! (or abandoned), so bytes and milliseconds cover the whole exchange.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use axum::http::StatusCode;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};

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
        eprintln!(
            "pyk: {} {} {} {} sent={} received={} {}ms",
            l.who,
            l.method,
            l.path,
            l.status.as_u16(),
            self.sent,
            l.received.load(Ordering::Relaxed),
            l.started.elapsed().as_millis()
        );
    }
}
