//! Small files the CLI writes whole (launchers, the Python hook).

use std::io::Write;
use std::path::Path;

use anyhow::Result;
use pyk_cache::{write_file, Existing};

/// Writes `bytes` to `path` atomically, replacing what is there.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    write_file(path, mode, Existing::Replace, |f| f.write_all(bytes))?;
    Ok(())
}
