//! Installing an app's dependencies into the payload staging directory.
//!
//! With uv (on PATH, or `$PYK_UV`) the install runs against the unpacked runtime's own
//! interpreter, so markers, tags and sdist builds match the target exactly. Without uv, a
//! host pip installs wheels for the runtime's Python version and platform (`pip
//! --python-version --platform --only-binary=:all:`): this works where the runtime has no
//! pip of its own (Debian's has none). `$PYK_INSTALLER=uv|pip` forces one.
//! Packages with compiled extension modules are refused afterwards, by name.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use pyk_runtime_fetch::PyVersion;

/// What to install, and where.
pub struct Request<'a> {
    pub requirements: &'a [String],
    pub requirement_files: &'a [PathBuf],
    /// The unpacked runtime's interpreter.
    pub python: &'a Path,
    pub version: &'a PyVersion,
    pub target: &'a Path,
}

/// The tool that runs the install.
pub enum Installer {
    Uv(OsString),
    /// A host Python with pip.
    Pip(OsString),
}

impl Installer {
    pub fn find() -> Result<Installer> {
        let forced = std::env::var("PYK_INSTALLER")
            .ok()
            .filter(|s| !s.is_empty());
        let uv = std::env::var_os("PYK_UV")
            .filter(|s| !s.is_empty())
            .or_else(|| on_path("uv"));
        let pip = std::env::var_os("PYK_PIP_PYTHON")
            .filter(|s| !s.is_empty())
            .or_else(|| on_path("python3"));
        match (forced.as_deref(), uv, pip) {
            (Some("uv") | None, Some(uv), _) => Ok(Installer::Uv(uv)),
            (Some("pip") | None, _, Some(python)) => Ok(Installer::Pip(python)),
            (Some(other @ ("uv" | "pip")), _, _) => {
                bail!("PYK_INSTALLER={other} but no {other} was found (install uv, or set PYK_UV / PYK_PIP_PYTHON)")
            }
            (Some(other), _, _) => bail!("PYK_INSTALLER={other:?}: expected `uv` or `pip`"),
            (None, None, None) => {
                bail!("installing dependencies needs uv or a python3 with pip on the build machine (neither found on PATH)")
            }
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Installer::Uv(_) => "uv",
            Installer::Pip(_) => "pip",
        }
    }

    pub fn install(&self, req: &Request) -> Result<()> {
        let mut cmd = match self {
            Installer::Uv(uv) => {
                let mut cmd = Command::new(uv);
                cmd.args(["pip", "install", "--no-config", "--quiet", "--python"])
                    .arg(req.python);
                cmd
            }
            Installer::Pip(python) => {
                let mut cmd = Command::new(python);
                let v = format!("{}.{}", req.version.major, req.version.minor);
                cmd.args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "--no-compile",
                ])
                .args([
                    "--python-version",
                    &v,
                    "--implementation",
                    "cp",
                    "--only-binary=:all:",
                ])
                .args([
                    "--platform",
                    "manylinux2014_x86_64",
                    "--platform",
                    "linux_x86_64",
                ]);
                cmd
            }
        };
        cmd.arg("--target").arg(req.target).args(req.requirements);
        for file in req.requirement_files {
            cmd.arg("-r").arg(file);
        }
        let out = cmd
            .output()
            .with_context(|| format!("cannot run {}", self.name()))?;
        if !out.status.success() {
            let said = String::from_utf8_lossy(&out.stderr);
            let said = said.trim();
            bail!(
                "{} could not install the dependencies:\n{said}",
                self.name()
            );
        }
        // Console scripts would point at the build machine's interpreter.
        let _ = fs::remove_dir_all(req.target.join("bin"));
        refuse_native(req.target)
    }
}

fn on_path(program: &str) -> Option<OsString> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .map(PathBuf::into_os_string)
}

/// Fails, naming the distribution, if any installed file is a compiled extension module.
fn refuse_native(target: &Path) -> Result<()> {
    let mut native = Vec::new();
    find_native(target, target, &mut native)?;
    let Some(first) = native.first() else {
        return Ok(());
    };
    let owner = owner_of(target, first).unwrap_or_else(|| "a dependency".into());
    bail!(
        "{owner} contains compiled extension modules ({}{}); pyk packs pure-Python dependencies only for now",
        first.display(),
        if native.len() > 1 { format!(" and {} more", native.len() - 1) } else { String::new() }
    )
}

fn find_native(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<_> = fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            find_native(root, &path, out)?;
        } else if path.extension().is_some_and(|e| e == "so" || e == "pyd") {
            out.push(path.strip_prefix(root).unwrap_or(&path).to_path_buf());
        }
    }
    Ok(())
}

/// The `Name` of the distribution whose RECORD lists `file`.
fn owner_of(target: &Path, file: &Path) -> Option<String> {
    let wanted = file.to_string_lossy().into_owned();
    for entry in fs::read_dir(target).ok()?.flatten() {
        let dir = entry.path();
        if dir.extension().is_none_or(|e| e != "dist-info") {
            continue;
        }
        let record = fs::read_to_string(dir.join("RECORD")).unwrap_or_default();
        if record
            .lines()
            .any(|l| l.split(',').next() == Some(wanted.as_str()))
        {
            let metadata = fs::read_to_string(dir.join("METADATA")).unwrap_or_default();
            return metadata
                .lines()
                .find_map(|l| l.strip_prefix("Name: "))
                .map(str::to_owned);
        }
    }
    None
}
