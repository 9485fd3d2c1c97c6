//! pyk's S3 access: a small blocking client for any S3-compatible service (AWS S3,
//! MinIO, Garage, SeaweedFS, R2), and on it, a pyk repository laid out in a bucket
//! ([`repo`]), which the server's S3 store and serverless clients both use.
//!
//! Why rusty-s3 + ureq rather than object_store: the store traits are synchronous (they
//! run on tokio's blocking pool) and the client is blocking, so an async client would
//! need a runtime of its own in every client; rusty-s3 only signs (sans-IO), and ureq is
//! the HTTP client pyk already has. object_store would add reqwest, hyper's client and
//! ~70 more crates to the client.
//!
//! What the client offers, and no more: HEAD; GET of small objects whole, or streamed
//! with resumption by `Range` ([`Download`]); PUT from memory or streamed with a known
//! length, either conditional (`If-None-Match: *`, `If-Match`); DELETE; LIST with
//! continuation; multipart uploads. Every wait is bounded by [`Settings::timeout`], and
//! every error names the operation and the key.

mod bucket;
mod download;
mod error;
mod multipart;
pub mod repo;
#[cfg(feature = "seaweedfs")]
pub mod seaweedfs;
mod settings;
mod time;

pub use bucket::{Bucket, Condition, Fetched, Listed, Listing, ObjectInfo, Put};
pub use download::Download;
pub use error::{Error, Result};
pub use multipart::{Multipart, MIN_PART};
pub use settings::{Credentials, Location, Settings, DEFAULT_REGION};
