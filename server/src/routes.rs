//! The router: which handler answers which route. The state handlers share is
//! `state.rs`'s, how answers and errors are made `http`'s, both beneath the handlers.

use std::sync::Arc;

use axum::extract::{MatchedPath, Request};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post, put};
use axum::Router;

use crate::handlers::{blobs, gc, observe, packages, versions};
use crate::http::ApiError;
use crate::metrics::Route;
use crate::state::App;

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/v1/packages", get(packages::list))
        .route(
            "/v1/packages/{kind}/{name}",
            get(packages::current)
                .post(packages::publish)
                .delete(packages::remove),
        )
        .route("/v1/packages/{kind}/{name}/watch", get(packages::watch))
        .route("/v1/packages/{kind}/{name}/next", get(packages::next))
        .route(
            "/v1/packages/{kind}/{name}/localname",
            put(packages::set_localname),
        )
        .route(
            "/v1/packages/{kind}/{name}/promote",
            post(versions::promote),
        )
        .route("/v1/packages/{kind}/{name}/versions", get(versions::list))
        .route(
            "/v1/packages/{kind}/{name}/versions/{version}",
            get(versions::get).delete(versions::delete),
        )
        .route(
            "/v1/packages/{kind}/{name}/versions/{version}/yank",
            post(versions::yank),
        )
        .route(
            "/v1/blobs/{sha256}",
            get(blobs::download).head(blobs::exists).put(blobs::upload),
        )
        .route("/v1/gc", post(gc::run))
        .route("/metrics", get(observe::scrape))
        .route_layer(middleware::from_fn(mark_route))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such endpoint") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed here")
        })
        .with_state(app)
}

/// Marks the response with the route pattern that answered, which `/metrics` counts by.
async fn mark_route(path: MatchedPath, req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    response
        .extensions_mut()
        .insert(Route(Arc::from(path.as_str())));
    response
}
