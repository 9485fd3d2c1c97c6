//! The launcher binary, built by `build.rs` from `stub/` and prepended to every artifact.

pub static STUB: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/pyk-stub"));
