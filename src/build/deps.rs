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

use super::lock;

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

    /// Installs into `req.target`; returns the resolution as `pylock.toml`.
    pub fn install(&self, req: &Request) -> Result<String> {
        let scratch = tempfile::tempdir().context("cannot create a temporary directory")?;
        let lock_file = scratch.path().join("pylock.toml");
        let report = scratch.path().join("report.json");
        let mut cmd = match self {
            Installer::Uv(uv) => {
                self.resolve(uv, req, scratch.path(), &lock_file)?;
                let mut cmd = Command::new(uv);
                cmd.args(["pip", "install", "--no-config", "--quiet", "--python"])
                    .arg(req.python)
                    .arg("-r")
                    .arg(&lock_file);
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
                ])
                .arg("--report")
                .arg(&report)
                .args(req.requirements);
                for file in req.requirement_files {
                    cmd.arg("-r").arg(file);
                }
                cmd
            }
        };
        cmd.arg("--target").arg(req.target);
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
        match self {
            Installer::Uv(_) => {
                let text = fs::read_to_string(&lock_file)
                    .with_context(|| format!("cannot read {}", lock_file.display()))?;
                Ok(lock::normalize(&text))
            }
            Installer::Pip(_) => lock::from_pip_report(&report),
        }
    }

    /// `uv pip compile` of the requirements into `lock_file` (PEP 751), for the runtime.
    fn resolve(
        &self,
        uv: &OsString,
        req: &Request,
        scratch: &Path,
        lock_file: &Path,
    ) -> Result<()> {
        let direct = scratch.join("requirements.in");
        fs::write(&direct, req.requirements.join("\n"))
            .with_context(|| format!("cannot write {}", direct.display()))?;
        let out = Command::new(uv)
            .args(["pip", "compile", "--no-config", "--quiet", "--no-header"])
            .args(["--format", "pylock.toml", "--python"])
            .arg(req.python)
            .arg(&direct)
            .args(req.requirement_files)
            .arg("-o")
            .arg(lock_file)
            .output()
            .with_context(|| format!("cannot run {}", self.name()))?;
        if !out.status.success() {
            let said = String::from_utf8_lossy(&out.stderr);
            bail!(
                "{} could not install the dependencies:\n{}",
                self.name(),
                said.trim()
            );
        }
        Ok(())
    }
}

fn on_path(program: &str) -> Option<OsString> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .map(PathBuf::into_os_string)
}
