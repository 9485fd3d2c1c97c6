//! What a pyk repository is, whichever store holds it: the server's embedded store, a
//! bucket a server keeps, or a bucket a serverless client writes directly. One
//! definition, so that the three cannot drift:
//!
//! - [`Registry`]: packages, their immutable versions, `latest`, yanked flags, local
//!   names and every version string used; implemented by the embedded store
//!   (`pyk-server`) and by the bucket (`pyk-s3`).
//! - [`Refusal`]: everything a repository refuses, each with its HTTP status and its
//!   protocol code, worded once for every path.
//! - [`check_publish`]: the rules a publish request must meet, on every path.
//! - [`Retention`]: which versions a repository's policy lets go.

mod publish;
mod refusal;
mod registry;
mod retention;

pub use publish::{check_publish, Invalid, MAX_BLOBS};
pub use refusal::Refusal;
pub use registry::{stored_form, GcReport, Latest, PackageRecord, Registry};
pub use retention::{Policy, Retention};

use pyk_protocol::Kind;

/// How a package is named in messages: `run foo`.
pub fn label(kind: Kind, name: &str) -> String {
    format!("{} {name}", kind.as_str())
}
