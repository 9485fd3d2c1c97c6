//! The server's HTTP layer on its own, beneath the handlers and the router: how errors
//! and refusals are answered (`error.rs`), how a request's path and JSON body are read
//! and validated (`extract.rs`), how JSON is sent (`json.rs`), and `If-None-Match`
//! (`etag.rs`). It imports nothing from the handlers, the catalog or the router.

mod error;
mod etag;
mod extract;
mod json;

pub use error::ApiError;
pub use etag::not_modified;
pub use extract::{blob_id, check_version, package, package_version, read_json};
pub use json::{json, with_json_type};
