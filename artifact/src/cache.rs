//! Where pyk keeps what it unpacks and downloads.
//!
//! `$PYK_CACHE_DIR`, else `$XDG_CACHE_HOME/pyk`, else `~/.cache/pyk`. The stub, the CLI and
//! runtime-fetch all resolve the root here so that a runtime unpacked by one is found by
//! the others.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The cache root, or `None` when neither a cache variable nor `$HOME` is set.
pub fn root() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = var("PYK_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    if let Some(dir) = var("XDG_CACHE_HOME") {
        return Some(PathBuf::from(dir).join("pyk"));
    }
    var("HOME").map(|home: OsString| PathBuf::from(home).join(".cache").join("pyk"))
}

/// Unpacked runtimes, one directory per runtime layer sha256.
pub fn runtimes_dir(root: &Path) -> PathBuf {
    root.join("runtimes")
}

/// The directory a runtime layer with this sha256 (hex) unpacks into.
pub fn runtime_dir(root: &Path, sha256_hex: &str) -> PathBuf {
    runtimes_dir(root).join(sha256_hex)
}
