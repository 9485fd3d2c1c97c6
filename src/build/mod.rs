//! `pyk build`: spec → runtime → dependencies (deps layer) → the app and its boot (app
//! layer) → `.pyc` → artifact.

mod assemble;
mod boot;
mod compile;
mod deps;
mod glibc;
mod lock;
mod runtime;
mod stage;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Result};
use pyk_cache::Cache;
use pyk_runtime_fetch::Progress;

use crate::spec::Spec;

/// Everything `pyk build` needs besides the spec.
pub struct Options<'a> {
    pub cache: &'a Cache,
    /// `--python`; when absent, the spec's `python`, else `$PYK_PYTHON`.
    pub python: Option<String>,
    pub runtime_archive: Option<&'a Path>,
    pub mirror: Option<&'a str>,
    pub output: Option<PathBuf>,
    /// The build time recorded in the trailer (`SOURCE_DATE_EPOCH`, else now).
    pub built: u64,
    /// zstd level of the deps and app layers.
    pub level: i32,
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
        opts.cache,
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

    // tempfile makes it 0700: nothing staged is visible to other users.
    let staging = tempfile::Builder::new().prefix("pyk-stage-").tempdir()?;
    let has_deps = !spec.dependencies.is_empty() || !spec.requirement_files.is_empty();
    let deps_dir = staging.path().join("deps");
    let lock = if has_deps {
        let installer = deps::Installer::find()?;
        let what = match (spec.dependencies.len(), spec.requirement_files.len()) {
            (n, 0) => format!("{n} dependenc{}", if n == 1 { "y" } else { "ies" }),
            (0, _) => "requirements".to_owned(),
            (n, _) => format!("{n} dependencies and requirements"),
        };
        let spinner = progress.spinner(&format!("Installing {what} with {}", installer.name()));
        let lock = installer.install(&deps::Request {
            requirements: &spec.dependencies,
            requirement_files: &spec.requirement_files,
            python: &runtime.python(),
            version: &python,
            target: &deps_dir,
        })?;
        spinner.finish_and_clear();
        progress.step(&format!("Installed {what} with {}", installer.name()));
        std::fs::create_dir_all(&deps_dir)?;
        Some(lock)
    } else {
        None
    };
    let deps = has_deps.then_some(deps_dir.as_path());
    let app = staging.path().join("app");
    std::fs::create_dir(&app)?;
    let copied = stage::stage(spec, &app, deps)?;

    let (compiled, failures) = compile::compile_tree(&runtime.python(), &app)?;
    if let Some(f) = failures.first() {
        bail!(
            "{} does not compile for Python {}.{}: {}",
            f.file,
            python.major,
            python.minor,
            f.why
        );
    }
    let mut total = compiled;
    if let Some(deps) = deps {
        let (compiled, failures) = compile::compile_tree(&runtime.python(), deps)?;
        total += compiled;
        for f in &failures {
            progress.step(&format!(
                "warning: {} left as source (does not compile: {})",
                f.file, f.why
            ));
        }
    }
    progress.step(&format!(
        "Compiled {total} Python files ({copied} from the app)"
    ));

    // Single point until the runtimes branch merges: the runtime's floor is measured on its
    // unpacked tree; afterwards it comes from the runtime layer's metadata.
    let mut floor = glibc::floor(&runtime.dir)?;
    if let Some(deps) = deps {
        floor = floor.max(glibc::floor(deps)?);
    }

    let output = opts
        .output
        .clone()
        .unwrap_or_else(|| Path::new("dist").join(&spec.name));
    let parts = assemble::Parts {
        name: &spec.name,
        kind: spec.kind,
        python: (python.major, python.minor),
        runtime: &runtime,
        glibc: floor,
        built: opts.built,
        entry: boot::describe(spec),
        deps,
        app: &app,
        lock: lock.as_deref(),
        level: opts.level,
    };
    let (size, trailer) = assemble::write(&parts, &output)?;
    let layers: Vec<String> = trailer
        .layers
        .iter()
        .map(|l| format!("{} {}", l.role.as_str(), human_size(l.span.len)))
        .collect();
    progress.step(&format!(
        "Built {} ({}, Python {}.{}, {}: {}) in {:.1} s",
        output.display(),
        spec.kind.as_str(),
        python.major,
        python.minor,
        human_size(size),
        layers.join(", "),
        started.elapsed().as_secs_f64()
    ));
    Ok(output)
}

pub fn human_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / f64::from(1 << 20)),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}
