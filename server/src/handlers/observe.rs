//! What an operator's tools ask: `/healthz` (for a load balancer or an orchestrator,
//! answered with no token) and `/metrics` (for Prometheus: with the read key here, or
//! with no token on the separate `--metrics-addr` listener, see `serve`).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::catalog::blocking;
use crate::log;
use crate::metrics;
use crate::state::App;

/// A store that has not answered by then is down, as far as a probe is concerned.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);

/// 200 `ok` when the store answers (`Store::check`), 503 `unavailable` when it fails
/// or does not answer within [`HEALTH_TIMEOUT`]. The body says nothing else: no
/// package, version or store name reaches a caller without a key. Why it failed goes
/// to the operator's log, and counts as a store error.
pub async fn health(app: &App) -> Response {
    let store = app.catalog.store().clone();
    let checked = tokio::time::timeout(HEALTH_TIMEOUT, blocking(move || store.check())).await;
    let failure = match checked {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(log::with_causes(&e)),
        Err(_) => Some(format!("no answer within {} s", HEALTH_TIMEOUT.as_secs())),
    };
    let (status, body) = match failure {
        None => (StatusCode::OK, "ok\n"),
        Some(why) => {
            log::warning(format_args!("health check: the store fails: {why}"));
            app.metrics.store_error();
            (StatusCode::SERVICE_UNAVAILABLE, "unavailable\n")
        }
    };
    let mut response = (status, Body::from(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `GET /metrics`.
pub async fn scrape(State(app): State<Arc<App>>) -> Response {
    let mut response = (StatusCode::OK, app.metrics.render()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(metrics::CONTENT_TYPE),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
