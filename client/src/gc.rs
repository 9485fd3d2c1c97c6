//! Garbage collection of a serverless repository: a bucket has no server to hold a
//! retention policy, so the client applies one (`pyk gc --retention FILE`), deciding as
//! a server does (`pyk_registry::Retention::plan`) and sweeping blobs with the same
//! grace rule. A server applies its own (`POST /v1/gc`).

use std::time::Duration;

use pyk_protocol::api::GcResponse;
use pyk_registry::Retention;

use crate::client::Transport;
use crate::{Client, Error};

impl Client {
    /// Whether the repository is a bucket read and written directly.
    pub fn is_serverless(&self) -> bool {
        matches!(self.transport, Transport::Bucket(_))
    }

    /// Applies `retention` to a bucket repository and collects the blobs no version
    /// references that are older than `grace`; `dry_run` only lists the versions that
    /// would go. Refused for a server, which holds its own policy.
    pub fn collect(
        &self,
        retention: &Retention,
        grace: Duration,
        dry_run: bool,
    ) -> Result<GcResponse, Error> {
        match &self.transport {
            Transport::Bucket(bucket) => bucket.collect(retention, grace, dry_run),
            Transport::Http(http) => Err(Error::OwnPolicy {
                server: http.base.clone(),
            }),
        }
    }
}
