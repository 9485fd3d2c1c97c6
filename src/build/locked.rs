//! Locked builds: `pyk lock` writes the project's `pylock.toml` (PEP 751), and a build
//! installs exactly what a `pylock.toml` (or a `uv.lock`) beside the spec says.
//!
//! The lock is made by uv's resolver (`uv pip compile --format pylock.toml`) for the
//! runtime's own interpreter and the target platform, with the spec's `[install]` options,
//! so every package has its file's URL and sha256; uv then installs from it and checks
//! every hash. pyk adds `[tool.pyk] requirements`, the spec's requirements the lock was
//! made from, so a requirement removed from the spec is drift too. A `uv.lock` is turned
//! into the same form by `uv export --format pylock.toml`.
//!
//! Drift is checked on every locked build: a requirement of the spec that the lock does
//! not hold, or holds at a version the requirement excludes, or one the lock was made
//! from that the spec no longer has. With `--locked` drift is an error naming each
//! difference; without, a warning, and the lock is still what is installed.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{bail, Context, Result};

use crate::spec::{normalize, parse_requirement, Spec};

/// The lock `pyk lock` writes and builds read, beside the spec.
pub const PYLOCK: &str = "pylock.toml";
/// uv's own lock, read when there is no `pylock.toml`.
pub const UV_LOCK: &str = "uv.lock";

/// A lock a build installs from.
pub enum Lock {
    /// A PEP 751 file beside the spec.
    Pylock(PathBuf),
    /// A `uv.lock` beside the spec (exported to PEP 751 form before installing).
    Uv(PathBuf),
}

impl Lock {
    /// The lock beside `spec`, if there is one and the spec installs third-party
    /// distributions.
    pub fn find(spec: &Spec) -> Option<Lock> {
        if spec.dependencies.is_empty() && spec.requirement_files.is_empty() {
            return None;
        }
        let pylock = spec.base.join(PYLOCK);
        let uv = spec.base.join(UV_LOCK);
        if pylock.is_file() {
            Some(Lock::Pylock(pylock))
        } else if uv.is_file() {
            Some(Lock::Uv(uv))
        } else {
            None
        }
    }

    pub fn path(&self) -> &Path {
        match self {
            Lock::Pylock(p) | Lock::Uv(p) => p,
        }
    }
}

/// The spec's requirements as a lock records them: `dependencies`, then each
/// requirements file's requirement lines (options and comments left out).
pub fn requirements(spec: &Spec) -> Result<Vec<String>> {
    let mut out = spec.dependencies.clone();
    for file in &spec.requirement_files {
        let text = fs::read_to_string(file)
            .with_context(|| format!("cannot read requirements file {}", file.display()))?;
        for line in text.lines() {
            let line = line.split(" #").next().unwrap_or("").trim();
            let line = line.split(" --hash").next().unwrap_or("").trim();
            let line = line.trim_end_matches('\\').trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with('-') {
                continue;
            }
            out.push(line.to_owned());
        }
    }
    Ok(out)
}

/// `[tool.pyk] requirements = [...]`, appended to the lock uv wrote.
pub fn record_requirements(requirements: &[String]) -> String {
    let list: Vec<String> = requirements
        .iter()
        .map(|r| toml::Value::String(r.clone()).to_string())
        .collect();
    format!("\n[tool.pyk]\nrequirements = [{}]\n", list.join(", "))
}

/// Each difference between the spec's `requirements` and the lock (`name` says which file,
/// for the messages), one line each; empty when they agree.
pub fn drift(requirements: &[String], lock: &str, name: &str) -> Result<Vec<String>> {
    let table: toml::Table =
        toml::from_str(lock).with_context(|| format!("{name} is not a valid TOML file"))?;
    let mut versions: BTreeMap<String, String> = BTreeMap::new();
    for p in table
        .get("packages")
        .and_then(|p| p.as_array())
        .into_iter()
        .flatten()
    {
        if let Some(n) = p.get("name").and_then(|n| n.as_str()) {
            let v = p.get("version").and_then(|v| v.as_str()).unwrap_or("");
            versions.insert(normalize(n), v.to_owned());
        }
    }
    let recorded: Option<Vec<String>> = table
        .get("tool")
        .and_then(|t| t.get("pyk"))
        .and_then(|t| t.get("requirements"))
        .and_then(|r| r.as_array())
        .map(|r| {
            r.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        });
    let name_of = |text: &str| parse_requirement(text).ok().map(|r| normalize(r.name));
    // A requirement of the spec whose name the lock was made with, in other words.
    let was = |key: &str, text: &str| {
        recorded
            .iter()
            .flatten()
            .find(|r| *r != text && name_of(r).as_deref() == Some(key))
    };
    let mut out = Vec::new();
    for text in requirements {
        let Ok(req) = parse_requirement(text) else {
            continue;
        };
        let key = normalize(req.name);
        let start = out.len();
        match (versions.get(&key), &req.versions) {
            // A requirement limited by a marker may rightly be absent for this Python.
            (None, _) if req.marker.is_some() => {}
            (None, _) => out.push(format!("`{text}` is in the spec but not in {name}")),
            (Some(v), Some(specifiers)) => {
                let ok = pep440_rs::Version::from_str(v).is_ok_and(|v| specifiers.contains(&v));
                if !ok {
                    out.push(format!("`{text}` is in the spec, {name} has {key} {v}"));
                }
            }
            (Some(_), _) => {}
        }
        let new = recorded.as_ref().is_some_and(|r| !r.contains(text));
        match (out.len() > start, new, was(&key, text)) {
            (true, _, Some(old)) => {
                out[start].push_str(&format!(" (the lock was made for `{old}`)"))
            }
            (false, true, Some(old)) => out.push(format!(
                "`{text}` is in the spec, {name} was made for `{old}`"
            )),
            (false, true, None) => out.push(format!(
                "`{text}` was added to the spec after {name} was made"
            )),
            _ => {}
        }
    }
    let names: Vec<Option<String>> = requirements.iter().map(|r| name_of(r)).collect();
    for old in recorded.iter().flatten() {
        if !requirements.contains(old) && !names.contains(&name_of(old)) {
            out.push(format!(
                "`{old}` was removed from the spec after {name} was made"
            ));
        }
    }
    Ok(out)
}

/// What a build installs from, after checking it against the spec: the PEP 751 file to
/// give the installer, written into `scratch` when it comes from a `uv.lock`. Drift is an
/// error with `locked`, else returned as a warning.
pub fn prepare(
    lock: &Lock,
    spec: &Spec,
    uv: Option<&std::ffi::OsStr>,
    locked: bool,
    scratch: &Path,
) -> Result<(PathBuf, Option<String>)> {
    let Some(uv) = uv else {
        bail!(
            "installing from {} needs uv (the pip fallback cannot install a lock; install uv, or set PYK_UV)",
            lock.path().display()
        );
    };
    let (file, shown) = match lock {
        Lock::Pylock(path) => (path.clone(), PYLOCK),
        Lock::Uv(path) => {
            let out_file = scratch.join(PYLOCK);
            let dir = path.parent().unwrap_or(Path::new("."));
            let out = std::process::Command::new(uv)
                .current_dir(dir)
                .args(["export", "--no-config", "--quiet", "--no-header"])
                .args(["--format", "pylock.toml", "--no-emit-project", "--no-dev"])
                // As it is: drift is found below, and named.
                .arg("--frozen")
                .arg("--output-file")
                .arg(&out_file)
                .output()
                .context("cannot run uv")?;
            if !out.status.success() {
                let err = String::from_utf8_lossy(&out.stderr);
                bail!(
                    "cannot read {} (uv export failed: {})",
                    path.display(),
                    err.lines()
                        .find(|l| !l.trim().is_empty())
                        .unwrap_or("")
                        .trim()
                );
            }
            (out_file, UV_LOCK)
        }
    };
    let text =
        fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
    let found = drift(&requirements(spec)?, &text, shown)?;
    if found.is_empty() {
        return Ok((file, None));
    }
    let list = found.join("; ");
    if locked {
        bail!(
            "--locked: {} does not match the spec: {list} (run `pyk lock`)",
            lock.path().display()
        );
    }
    Ok((
        file,
        Some(format!(
            "{} does not match the spec ({list}): installing what it says; run `pyk lock` to update it",
            lock.path().display()
        )),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = r#"lock-version = "1.0"
[[packages]]
name = "six"
version = "1.16.0"
[[packages]]
name = "Click"
version = "8.1.7"

[tool.pyk]
requirements = ["six==1.16.0", "click>=8"]
"#;

    fn reqs(r: &[&str]) -> Vec<String> {
        r.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn agreeing_spec_has_no_drift() {
        assert!(drift(&reqs(&["six==1.16.0", "click>=8"]), LOCK, PYLOCK)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn names_each_difference() {
        let d = drift(&reqs(&["six==1.17.0", "rich"]), LOCK, PYLOCK).unwrap();
        assert_eq!(
            d,
            [
                "`six==1.17.0` is in the spec, pylock.toml has six 1.16.0 (the lock was made for `six==1.16.0`)",
                "`rich` is in the spec but not in pylock.toml",
                "`click>=8` was removed from the spec after pylock.toml was made",
            ]
        );
        let d = drift(&reqs(&["six==1.16.0", "click>=8.1"]), LOCK, PYLOCK).unwrap();
        assert_eq!(
            d,
            ["`click>=8.1` is in the spec, pylock.toml was made for `click>=8`"]
        );
    }

    #[test]
    fn a_lock_without_pyks_record_is_checked_by_name_and_version() {
        let lock = "lock-version = \"1.0\"\n[[packages]]\nname = \"six\"\nversion = \"1.16.0\"\n";
        assert!(drift(&reqs(&["six>=1.15"]), lock, UV_LOCK)
            .unwrap()
            .is_empty());
        assert_eq!(drift(&reqs(&["six<1"]), lock, UV_LOCK).unwrap().len(), 1);
    }
}
