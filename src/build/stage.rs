//! Laying out the app layer: the app's files, its libraries and extras, and the generated
//! `__pyk_boot__`, in a staging directory that becomes the layer.

use std::fs;
use std::path::Path;

use anyhow::{bail, Context, Result};

use super::boot;
use crate::spec::{Entry, Spec};

/// Copies the spec's files into `app` (an empty directory) and writes the boot module.
/// `deps` is the staged dependency tree, to refuse app modules that would shadow one.
/// Returns the number of files copied.
pub fn stage(spec: &Spec, app: &Path, deps: Option<&Path>) -> Result<usize> {
    let mut copied = 0;
    let entry = match &spec.entry {
        Entry::Path(path) => Some(path),
        // A console script's module comes with the installed project.
        Entry::Function { .. } => None,
    };
    for src in entry.into_iter().chain(&spec.libraries).chain(&spec.extras) {
        let name = src
            .file_name()
            .with_context(|| format!("{} has no file name", src.display()))?;
        if let Some(deps) = deps.filter(|d| d.join(name).exists()) {
            bail!(
                "{} would shadow {:?} that a dependency installs in {}; rename it",
                src.display(),
                name,
                deps.display()
            );
        }
        copied += copy(src, &app.join(name))?;
    }
    let boot = app.join(boot::file_name());
    if boot.exists() {
        bail!("the app already has a top-level {}", boot::file_name());
    }
    fs::write(&boot, boot::source(spec))
        .with_context(|| format!("cannot write {}", boot.display()))?;
    Ok(copied)
}

/// Copies a file or a directory tree, skipping bytecode caches and hidden entries, and
/// refusing to overwrite (two sources with one name).
fn copy(src: &Path, dst: &Path) -> Result<usize> {
    if dst.exists() {
        bail!(
            "{} would be packed twice: another listed path already provides {:?}",
            src.display(),
            dst.file_name().unwrap_or_default()
        );
    }
    let meta = fs::metadata(src).with_context(|| format!("cannot read {}", src.display()))?;
    if !meta.is_dir() {
        fs::copy(src, dst).with_context(|| format!("cannot copy {}", src.display()))?;
        return Ok(1);
    }
    fs::create_dir(dst).with_context(|| format!("cannot create {}", dst.display()))?;
    let mut entries: Vec<_> = fs::read_dir(src)
        .with_context(|| format!("cannot list {}", src.display()))?
        .collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    let mut n = 0;
    for entry in entries {
        let name = entry.file_name();
        let skip = name.to_string_lossy().starts_with('.')
            || name == "__pycache__"
            || Path::new(&name).extension().is_some_and(|e| e == "pyc");
        if !skip {
            n += copy(&entry.path(), &dst.join(&name))?;
        }
    }
    Ok(n)
}
