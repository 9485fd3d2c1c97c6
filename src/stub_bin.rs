//! The launcher binaries, built by `build.rs` from `stub/` and prepended to every artifact:
//! this machine's, and an aarch64 one when pyk was built where that could be cross-compiled.

pub static STUB: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/pyk-stub"));

#[cfg(pyk_stub_aarch64)]
pub static STUB_AARCH64: Option<&[u8]> = Some(include_bytes!(concat!(
    env!("OUT_DIR"),
    "/pyk-stub-aarch64"
)));
#[cfg(not(pyk_stub_aarch64))]
pub static STUB_AARCH64: Option<&[u8]> = None;
