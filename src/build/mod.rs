//! `pyk build`: spec → runtime → dependencies → staged files → .pyc → artifact.

mod assemble;
mod compile;
mod deps;
mod payload;
mod runtime;
mod stage;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use pyk_artifact::trailer::sha256_from_hex;
use pyk_runtime_fetch::Progress;

use crate::output::human_size;
use crate::spec::Spec;

/// Everything `pyk build` needs besides the spec.
pub struct Options<'a> {
    pub cache_root: &'a Path,
    /// `--python`; when absent, the spec's `python`, else `$PYK_PYTHON`.
    pub python: Option<String>,
    pub runtime_archive: Option<&'a Path>,
    pub mirror: Option<&'a str>,
    pub output: Option<PathBuf>,
}

/// Builds the artifact and returns its path.
pub fn build(spec: &Spec, opts: &Options, progress: &Progress) -> Result<PathBuf> {
    let started = Instant::now();
    let want = opts
        .python
        .clone()
        .or_else(|| spec.python.clone())
        .or_else(|| std::env::var("PYK_PYTHON").ok().filter(|s| !s.is_empty()));
    let runtime = runtime::resolve(
        opts.cache_root,
        want.as_deref(),
        opts.runtime_archive,
        opts.mirror,
        progress,
    )?;
    let python = runtime.layer.python;
    progress.step(&format!(
        "Runtime: Python {python} ({})",
        runtime.layer.source
    ));

    let staging = tempfile::Builder::new()
        .prefix("pyk-stage-")
        .tempdir()
        .context("cannot create a staging directory")?;
    let has_deps = !spec.dependencies.is_empty() || !spec.requirement_files.is_empty();
    if has_deps {
        let installer = deps::Installer::find()?;
        let what = match (spec.dependencies.len(), spec.requirement_files.len()) {
            (n, 0) => format!("{n} dependenc{}", if n == 1 { "y" } else { "ies" }),
            (0, _) => "requirements".to_owned(),
            (n, _) => format!("{n} dependencies and requirements"),
        };
        let spinner = progress.spinner(&format!("Installing {what} with {}", installer.name()));
        installer.install(&deps::Request {
            requirements: &spec.dependencies,
            requirement_files: &spec.requirement_files,
            python: &runtime.python(),
            version: &python,
            target: staging.path(),
        })?;
        spinner.finish_and_clear();
        progress.step(&format!("Installed {what} with {}", installer.name()));
    }
    let copied = stage::stage(spec, staging.path())?;

    let (compiled, failures) = compile::compile_tree(&runtime.python(), staging.path())?;
    if let Some(f) = failures.iter().find(|f| is_app_file(spec, &f.file)) {
        bail!(
            "{} does not compile for Python {}.{}: {}",
            f.file,
            python.major,
            python.minor,
            f.why
        );
    }
    for f in &failures {
        progress.step(&format!(
            "warning: {} left as source (does not compile: {})",
            f.file, f.why
        ));
    }
    progress.step(&format!(
        "Compiled {compiled} Python files ({copied} from the app)"
    ));

    let output = opts
        .output
        .clone()
        .unwrap_or_else(|| Path::new("dist").join(&spec.name));
    let layer_sha256 = sha256_from_hex(&runtime.layer.sha256)
        .context("the runtime cache holds a layer with a malformed name")?;
    let parts = assemble::Parts {
        name: &spec.name,
        kind: spec.kind,
        python: (python.major, python.minor),
        layer: &runtime.layer.path,
        layer_sha256,
    };
    let size = assemble::write(&parts, staging.path(), &output)?;
    progress.step(&format!(
        "Built {} ({}, Python {}.{}, {}) in {:.1} s",
        output.display(),
        spec.kind.as_str(),
        python.major,
        python.minor,
        human_size(size),
        started.elapsed().as_secs_f64()
    ));
    Ok(output)
}

/// Whether a payload path came from the app rather than a dependency.
fn is_app_file(spec: &Spec, payload_path: &str) -> bool {
    let top = payload_path.split('/').next().unwrap_or_default();
    std::iter::once(&spec.entry)
        .chain(&spec.libraries)
        .chain(&spec.extras)
        .any(|p| p.file_name().is_some_and(|n| n == top))
}
