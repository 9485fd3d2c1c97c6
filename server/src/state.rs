//! What every handler sees: the catalog (and through it the store), the keys that
//! admit requests, and the server's limits and lifecycle.

use std::sync::Arc;

use tokio::sync::watch;

use crate::auth::Auth;
use crate::catalog::Catalog;

pub struct App {
    pub catalog: Arc<Catalog>,
    pub auth: Auth,
    pub max_upload: u64,
    /// Slots for uploads in progress (see [`crate::limits::MAX_UPLOADS`]).
    pub uploads: tokio::sync::Semaphore,
    /// Which stored blobs are known to be whole (see [`crate::verified`]).
    pub verified: crate::verified::Verified,
    /// The retention policy and blob grace `POST /v1/gc` applies.
    pub gc: crate::retention::GcSettings,
    /// What `/metrics` reports.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Turns true when the server starts shutting down: long-polls answer at once.
    pub shutdown: watch::Receiver<bool>,
}
