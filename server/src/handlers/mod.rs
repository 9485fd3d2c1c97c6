//! Request handlers, one module per resource.

pub mod blobs;
pub mod gc;
pub mod observe;
pub mod packages;
mod signed;
pub mod versions;
