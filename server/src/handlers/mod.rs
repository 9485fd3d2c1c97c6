//! Request handlers, one module per resource.

pub mod blobs;
pub mod observe;
pub mod packages;
mod signed;
pub mod versions;
