//! The launcher binaries, built by `build.rs` from `stub/` and prepended to every artifact:
//! this machine's, and the other machine's (aarch64 in an x86_64 pyk, x86_64 in an aarch64
//! one) when pyk was built where that could be cross-compiled.

pub static STUB: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/pyk-stub"));

#[cfg(pyk_stub_other)]
pub static OTHER_STUB: Option<&[u8]> =
    Some(include_bytes!(concat!(env!("OUT_DIR"), "/pyk-stub-other")));
#[cfg(not(pyk_stub_other))]
pub static OTHER_STUB: Option<&[u8]> = None;
