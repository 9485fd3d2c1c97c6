//! A 4xx/5xx answer with the protocol's [`ErrorBody`]: a repository's refusal is sent
//! with the status and code `pyk_registry` gives it, a store's failure as a 500 that
//! names its causes (what an operator needs: the database's or the file system's own
//! words). Either is marked on the response for `/metrics` ([`Counted`]).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use pyk_protocol::api::ErrorBody;
use pyk_registry::Refusal;

use super::json;
use crate::log::with_causes;
use crate::metrics::Counted;
use crate::store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// One of the protocol's `CODE_*`, for clients that act on the refusal.
    pub code: Option<&'static str>,
    /// With `CODE_CLOCK`: the token's time minus the server's, in seconds.
    pub skew: Option<i64>,
    /// What `/metrics` counts it as besides its status.
    pub counted: Option<Counted>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            code: None,
            skew: None,
            counted: None,
        }
    }

    pub fn with_code(mut self, code: Option<&'static str>) -> ApiError {
        self.code = code;
        self
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> ApiError {
        let status = StatusCode::from_u16(r.status()).unwrap_or(StatusCode::CONFLICT);
        let mut e = ApiError::new(status, r.to_string()).with_code(Some(r.code()));
        e.counted = Some(Counted::Refusal(r.code()));
        e
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::Refused(r) => r.into(),
            e => {
                let mut e = ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, with_causes(&e));
                e.counted = Some(Counted::StoreError);
                e
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = json(
            self.status,
            &ErrorBody {
                error: self.message,
                code: self.code.map(str::to_owned),
                skew: self.skew,
            },
        );
        if let Some(counted) = self.counted {
            response.extensions_mut().insert(counted);
        }
        response
    }
}
