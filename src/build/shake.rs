//! `--strip-stdlib`: which stdlib modules the app reaches, worked out by the runtime's own
//! interpreter over the staged app and dependency trees (`shake.py` says how: conservative,
//! from the bytecode of every module, with what the interpreter needs to start), then the
//! runtime layer without the rest (`pyk_runtime_fetch::shake_runtime`).

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};
use pyk_artifact::extract::Unpacked;
use pyk_cache::Cache;
use pyk_runtime_fetch::{shake_runtime, Layer, LayerStore, Shake};

use crate::output::Progress;
use pyk_protocol::progress::Progress as _;
use serde::Deserialize;

use super::runtime::Runtime;

const SCRIPT: &str = include_str!("shake.py");

/// zstd level of a shaken runtime layer unless `PYK_ZSTD_LEVEL` says otherwise. It is made
/// by the build (not once per machine like an imported runtime) and is cached for the next
/// build that keeps the same modules: measured in the README (`## Measured`).
const SHAKEN_LEVEL: i32 = 12;

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    unknown_keep: Vec<String>,
    #[serde(default)]
    dropped: Vec<String>,
    #[serde(default)]
    kept: Vec<String>,
    #[serde(default)]
    paths: Vec<String>,
}

/// The runtime layer to embed: `runtime`'s without what `trees` (the staged app and
/// dependencies) never import, and what it unpacks to.
pub fn shake(
    cache: &Cache,
    runtime: &Runtime,
    trees: &[&Path],
    keep: &[String],
    progress: &Progress,
) -> Result<(Layer, Unpacked)> {
    let spinner = progress.spinner("Following the imports of the app and its dependencies");
    let request = serde_json::json!({
        "roots": trees,
        "keep": keep,
    });
    let out = Command::new(runtime.python())
        .env_clear()
        .current_dir(&runtime.dir)
        .args(["-s", "-B", "-c", SCRIPT])
        .arg(request.to_string())
        .output()
        .with_context(|| format!("cannot run {}", runtime.python().display()));
    drop(spinner);
    let out = out?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        bail!(
            "following the imports failed: {}",
            err.lines().last().unwrap_or("").trim()
        );
    }
    let answer: Answer = serde_json::from_slice(&out.stdout)
        .context("following the imports gave an answer pyk cannot read")?;
    if !answer.unknown_keep.is_empty() {
        bail!(
            "`keep` names {}, not in Python {}'s standard library",
            answer.unknown_keep.join(", "),
            runtime.layer.python
        );
    }
    let level = crate::environ::zstd_level().unwrap_or(SHAKEN_LEVEL);
    let store = LayerStore::open(cache.root()).with_zstd_level(level);
    let layer = shake_runtime(
        &store,
        &runtime.layer,
        &runtime.dir,
        &Shake {
            paths: &answer.paths,
            modules: &answer.dropped,
        },
        progress,
    )?;
    progress.step(&format!(
        "Stripped the stdlib: {} modules kept, {} left out ({:.1} MB runtime layer, was {:.1} MB)",
        answer.kept.len(),
        answer.dropped.len(),
        layer.size as f64 / 1e6,
        runtime.layer.size as f64 / 1e6,
    ));
    let unpacked = layer
        .unpacked
        .context("the shaken runtime layer's metadata lacks its unpacked size")?;
    Ok((layer, unpacked))
}
