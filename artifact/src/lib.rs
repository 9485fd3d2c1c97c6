//! The pyk artifact format and the runtime cache, shared by the stub and the CLI so that
//! both agree on the bytes because they run the same code.

pub mod cache;
pub mod trailer;
pub mod unpack;
