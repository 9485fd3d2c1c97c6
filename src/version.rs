//! What `pyk --version` prints: the package version, and the commit and date it was built
//! from when built from a git checkout (see `build.rs`), as cargo and uv do.

/// `0.1.0 (abc123def 2026-11-23)`, or `0.1.0` outside a git checkout.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), env!("PYK_VERSION_INFO"));
