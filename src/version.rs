//! What `pyk --version` prints: the package version, and the commit and date it was built
//! from when built from a git checkout (see `build.rs`), as cargo and uv do; then the oldest
//! glibc this binary and the launcher it writes into artifacts run on.

/// `0.1.0 (abc123def 2026-11-23)`, or `0.1.0` outside a git checkout.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), env!("PYK_VERSION_INFO"));

/// `VERSION`, then `runs on glibc ≥ 2.17; its artifacts' launcher on glibc ≥ 2.17`.
///
/// Read from the two ELF files' symbol versions rather than recorded by `build.rs`: a build
/// with zig (`scripts/release.sh`, or cargo-zigbuild on PATH for the launcher) targets 2.17,
/// a plain `cargo install` this machine's glibc, and only the files know which they got.
/// Only `--version` pays for reading this binary.
pub fn with_floors() -> String {
    let own = std::fs::File::open("/proc/self/exe")
        // SAFETY: read-only, for the moment it takes to read the symbol versions.
        .and_then(|f| unsafe { memmap2::Mmap::map(&f) })
        .map_err(|e| e.to_string())
        .and_then(|map| floor(&map));
    let launcher = floor(crate::stub_bin::STUB);
    let show = |f: Result<String, String>| f.unwrap_or_else(|e| format!("? ({e})"));
    format!(
        "{VERSION}\nruns on glibc ≥ {}; its artifacts' launcher on glibc ≥ {}",
        show(own),
        show(launcher)
    )
}

fn floor(elf: &[u8]) -> Result<String, String> {
    match pyk_runtime_fetch::glibc_needed(elf) {
        Ok(Some(version)) => Ok(version.to_string()),
        Ok(None) => Ok("any".into()),
        Err(e) => Err(e.to_string()),
    }
}
