//! Request handlers, one module per resource.

pub mod blobs;
pub mod packages;
pub mod versions;
