//! `/metrics`: what an operator graphs and alerts on, in the Prometheus text format
//! (0.0.4): requests by route pattern (never the raw path, so package names and
//! versions stay out and the series stay few) and status, their latency, bytes in and
//! out, refusals by kind (`pyk_registry::Refusal`'s protocol codes, and the token
//! checks'), and store failures.
//!
//! Counted at the server's entry (`serve::Entry`): a request's count and status when
//! its response head is ready, so a client that has its answer finds it counted; its
//! latency and bytes when the response body has been sent or abandoned ([`Metered`]).
//! Built on `prometheus-client` (the Prometheus project's own Rust client), whose
//! counters and histograms are atomics: recording takes no lock but the label map's
//! read lock.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use prometheus_client::encoding::{prometheus_text, EncodeLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// The `Content-Type` of an answer to `/metrics`.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// How a response says what it counts besides its status (set by `ApiError`), read
/// by the entry from the response's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// A repository refused the request: the refusal's protocol code.
    Refusal(&'static str),
    /// The store failed (a 500).
    StoreError,
}

/// Which route pattern answered (`/v1/packages/{kind}/{name}`), put in the response's
/// extensions by the router. Requests no route answered count as `none`.
#[derive(Debug, Clone)]
pub struct Route(pub Arc<str>);

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

/// From half a millisecond (a cached manifest) to a minute (a large upload), by 2.5.
fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.5, 14))
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    duration: Family<RouteLabels, Histogram, fn() -> Histogram>,
    received: Family<RouteLabels, Counter>,
    sent: Family<RouteLabels, Counter>,
    refusals: Family<KindLabels, Counter>,
    denials: Family<KindLabels, Counter>,
    store_errors: Counter,
}

impl Default for Metrics {
    fn default() -> Metrics {
        let mut registry = Registry::with_prefix("pyk");
        let m = Metrics {
            requests: Family::default(),
            duration: Family::new_with_constructor(latency as fn() -> Histogram),
            received: Family::default(),
            sent: Family::default(),
            refusals: Family::default(),
            denials: Family::default(),
            store_errors: Counter::default(),
            registry: Registry::default(),
        };
        registry.register(
            "http_requests",
            "Requests answered, by method, route pattern and status",
            m.requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time from a request's arrival to the end of its response body",
            m.duration.clone(),
        );
        registry.register(
            "http_received_bytes",
            "Request body bytes read",
            m.received.clone(),
        );
        registry.register(
            "http_sent_bytes",
            "Response body bytes sent",
            m.sent.clone(),
        );
        registry.register(
            "refusals",
            "Requests the repository refused, by the refusal's protocol code",
            m.refusals.clone(),
        );
        registry.register(
            "auth_denials",
            "Requests refused before routing: no valid token (unauthorized), a read key \
             for a write (forbidden), a replayed token, a clock too far off, or the \
             shared nonce record unreachable (busy)",
            m.denials.clone(),
        );
        registry.register(
            "store_errors",
            "Store failures: a request answered 500, a failed health probe or garbage \
             collection",
            m.store_errors.clone(),
        );
        Metrics { registry, ..m }
    }
}

impl Metrics {
    /// Counts a request whose response head is ready, and what the response marks.
    pub fn answered(
        &self,
        method: &Method,
        route: &str,
        status: StatusCode,
        counted: Option<Counted>,
    ) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.as_str().to_owned(),
                route: route.to_owned(),
                status: status.as_u16(),
            })
            .inc();
        match counted {
            Some(Counted::Refusal(kind)) => {
                self.refusals.get_or_create(&KindLabels { kind }).inc();
            }
            Some(Counted::StoreError) => self.store_error(),
            None => {}
        }
    }

    /// A request the token checks turned away (`kind`: why).
    pub fn denied(&self, kind: &'static str) {
        self.denials.get_or_create(&KindLabels { kind }).inc();
    }

    pub fn store_error(&self) {
        self.store_errors.inc();
    }

    /// Records a finished exchange: its latency and bytes.
    pub fn finished(&self, method: &Method, route: &str, started: Instant, in_: u64, out: u64) {
        let labels = RouteLabels {
            method: method.as_str().to_owned(),
            route: route.to_owned(),
        };
        self.duration
            .get_or_create(&labels)
            .observe(started.elapsed().as_secs_f64());
        self.received.get_or_create(&labels).inc_by(in_);
        self.sent.get_or_create(&labels).inc_by(out);
    }

    /// Everything, in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_text::encode(&mut text, &self.registry);
        text
    }
}

/// A response body that calls `done` with the bytes it sent when it is dropped: at the
/// end of the exchange, or when the client hangs up.
pub struct Metered {
    inner: Body,
    sent: u64,
    done: Option<Box<dyn FnOnce(u64) + Send>>,
}

impl Metered {
    pub fn new(inner: Body, done: impl FnOnce(u64) + Send + 'static) -> Metered {
        Metered {
            inner,
            sent: 0,
            done: Some(Box::new(done)),
        }
    }
}

impl HttpBody for Metered {
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

impl Drop for Metered {
    fn drop(&mut self) {
        if let Some(done) = self.done.take() {
            done(self.sent);
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_appear_under_their_labels() {
        let m = Metrics::default();
        m.answered(
            &Method::GET,
            "/v1/packages/{kind}/{name}",
            StatusCode::NOT_FOUND,
            None,
        );
        m.answered(
            &Method::POST,
            "/v1/packages/{kind}/{name}",
            StatusCode::CONFLICT,
            Some(Counted::Refusal("version-exists")),
        );
        m.denied("unauthorized");
        m.finished(&Method::GET, "/metrics", Instant::now(), 0, 10);
        let text = m.render();
        for line in [
            "pyk_http_requests_total{method=\"GET\",route=\"/v1/packages/{kind}/{name}\",status=\"404\"} 1",
            "pyk_refusals_total{kind=\"version-exists\"} 1",
            "pyk_auth_denials_total{kind=\"unauthorized\"} 1",
            "pyk_http_sent_bytes_total{method=\"GET\",route=\"/metrics\"} 10",
            "pyk_http_request_duration_seconds_count{method=\"GET\",route=\"/metrics\"} 1",
            "pyk_store_errors_total 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
    }
}
