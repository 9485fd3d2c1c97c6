//! The API tree (see `pyk info`): read from the app layer's sources with `ast` by the
//! runtime's own interpreter, so no package code runs at build time, and written into the
//! app layer as [`FILE`], where `pyk publish` finds it.

use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::api::tree::{Api, FILE};

const SCRIPT: &str = include_str!("../python/pyk_api.py");

/// Writes the tree of the modules under `app` to `app/`[`FILE`]; returns it.
pub fn record(python: &Path, app: &Path) -> Result<Api> {
    let out = super::compile::clean_python(python)
        .args(["-s", "-B", "-c", SCRIPT])
        .arg(app)
        .output()
        .with_context(|| format!("cannot run {}", python.display()))?;
    if !out.status.success() {
        bail!(
            "reading the API tree failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let api: Api = serde_json::from_slice(&out.stdout)
        .context("the API tree reader printed something that is not a tree")?;
    let path = app.join(FILE);
    if path.exists() {
        bail!("the app already has a top-level {FILE}");
    }
    std::fs::write(&path, &out.stdout)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(api)
}
