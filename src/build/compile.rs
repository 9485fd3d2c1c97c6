//! Precompiling the app's and the dependencies' Python files to `.pyc` with the runtime's own
//! interpreter.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

const SCRIPT: &str = include_str!("compile.py");

/// A file that did not compile (its path inside the tree, and why).
pub struct Failure {
    pub file: String,
    pub why: String,
}

/// The runtime's interpreter with a cleared environment, run from the runtime's root so
/// no project file shadows the stdlib: how build steps run Python code of pyk's.
pub fn clean_python(python: &Path) -> Command {
    let root = python
        .parent()
        .and_then(Path::parent)
        .unwrap_or(Path::new("/"));
    let mut cmd = Command::new(python);
    cmd.env_clear().current_dir(root);
    cmd
}

/// Compiles everything under `staging`; returns how many files compiled and which failed.
pub fn compile_tree(python: &Path, staging: &Path) -> Result<(usize, Vec<Failure>)> {
    // marshal output depends on the hash seed (set and frozenset constants) and `-I`
    // would ignore PYTHONHASHSEED: the environment is cleared instead.
    let out = clean_python(python)
        .env("PYTHONHASHSEED", "0")
        .args(["-s", "-B", "-c", SCRIPT])
        .arg(staging)
        .output()
        .with_context(|| format!("cannot run {}", python.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "compiling to .pyc failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let mut count = 0;
    let mut failures = Vec::new();
    for line in stdout.lines() {
        let mut fields = line.splitn(3, '\t');
        match (fields.next(), fields.next(), fields.next()) {
            (Some("OK"), Some(n), None) => count = n.parse().unwrap_or(0),
            (Some("FAIL"), Some(file), Some(why)) => failures.push(Failure {
                file: file.into(),
                why: why.into(),
            }),
            _ => {}
        }
    }
    Ok((count, failures))
}
