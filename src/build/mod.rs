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
use pyk_runtime_fetch::{Progress, PythonRequest};

use crate::output::human_size;
use crate::spec::{Declared, Entry, Spec};

/// Everything `pyk build` needs besides the spec.
pub struct Options<'a> {
    pub cache_root: &'a Path,
    /// `--python`; when absent, the spec's `python`, else `$PYK_PYTHON`.
    pub python: Option<String>,
    pub runtime_archive: Option<&'a Path>,
    pub mirror: Option<&'a str>,
    /// `-o`; when absent, `dist/NAME` in the spec's directory.
    pub output: Option<PathBuf>,
}

/// Builds the artifact and returns its path.
pub fn build(spec: &Spec, opts: &Options, progress: &Progress) -> Result<PathBuf> {
    let started = Instant::now();
    for warning in &spec.warnings {
        progress.step(&format!("warning: {warning}"));
    }
    let asked = |value: &str, how: String| -> Result<Declared<PythonRequest>> {
        let value = value
            .parse()
            .with_context(|| format!("{how}: not a Python version"))?;
        Ok(Declared { value, at: how })
    };
    let request = match (&opts.python, &spec.python.request) {
        (Some(v), _) => Some(asked(v, format!("--python {v}"))?),
        (None, Some(declared)) => Some(Declared {
            value: declared.value,
            at: format!("`python = \"{}\"` ({})", declared.value, declared.at),
        }),
        (None, None) => match std::env::var("PYK_PYTHON").ok().filter(|s| !s.is_empty()) {
            Some(v) => Some(asked(&v, format!("PYK_PYTHON={v}"))?),
            None => None,
        },
    };
    let choice = runtime::Choice {
        request,
        requires: &spec.python.requires,
    };
    let runtime = runtime::resolve(
        opts.cache_root,
        &choice,
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
    let mut own_tops = Vec::new();
    let mut own_sources = 0;
    if spec.installs() {
        let installer = deps::Installer::find()?;
        let n = spec.dependencies.len();
        let mut what: Vec<String> = Vec::new();
        if n > 0 {
            what.push(format!("{n} dependenc{}", if n == 1 { "y" } else { "ies" }));
        }
        if !spec.requirement_files.is_empty() {
            what.push("requirements".into());
        }
        if let Some(project) = &spec.project {
            what.push(format!("project {}", project.name));
        }
        let what = what.join(" and ");
        let spinner = progress.spinner(&format!("Installing {what} with {}", installer.name()));
        let installed = installer.install(&deps::Request {
            spec,
            python: &runtime.python(),
            version: &python,
            deps_target: staging.path(),
            app_target: staging.path(),
        })?;
        spinner.finish_and_clear();
        progress.step(&format!(
            "Installed {what} with {} ({} distributions)",
            installer.name(),
            installed.dists.len()
        ));
        for warning in &installed.warnings {
            progress.step(&format!("warning: {warning}"));
        }
        for dist in installed.dists.iter().filter(|d| d.own) {
            for file in dist.files()? {
                own_sources += usize::from(file.extension().is_some_and(|e| e == "py"));
                if let Some(top) = file.components().next() {
                    own_tops.push(top.as_os_str().to_string_lossy().into_owned());
                }
            }
        }
    }
    let copied = stage::stage(spec, staging.path())? + own_sources;

    let (compiled, failures) = compile::compile_tree(&runtime.python(), staging.path())?;
    if let Some(f) = failures
        .iter()
        .find(|f| is_app_file(spec, &own_tops, &f.file))
    {
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
        .unwrap_or_else(|| spec.base.join("dist").join(&spec.name));
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

/// Whether a payload path came from the app (its files, or the project's own
/// distribution, whose top-level names are `own_tops`) rather than a dependency.
fn is_app_file(spec: &Spec, own_tops: &[String], payload_path: &str) -> bool {
    let top = payload_path.split('/').next().unwrap_or_default();
    let entry = match &spec.entry {
        Entry::Path(path) => Some(path),
        Entry::Function { .. } => None,
    };
    own_tops.iter().any(|t| t == top)
        || entry
            .into_iter()
            .chain(&spec.libraries)
            .chain(&spec.extras)
            .any(|p| p.file_name().is_some_and(|n| n == top))
}
