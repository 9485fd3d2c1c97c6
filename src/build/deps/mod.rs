//! Installing what the spec declares: the third-party dependencies, then the project's own
//! wheel, each into its own `--target` directory (they may be the same one).
//!
//! With uv (on PATH, or `$PYK_UV`) the install runs against the unpacked runtime's own
//! interpreter, so markers, tags and sdist builds match the target exactly. Without uv, a
//! host pip installs wheels for the runtime's Python version and platform (`pip
//! --python-version --platform --only-binary=:all:`): this works where the runtime has no
//! pip of its own (Debian's has none). `$PYK_INSTALLER=uv|pip` forces one. Both get the
//! same `[install]` options. Compiled extension modules are packed like any file (the
//! deps layer is unpacked into real files on the first run).
//!
//! The project is built into a wheel first (`uv build` / `pip wheel`) and that wheel is
//! installed without its dependencies (they were installed, with any hashes checked, in the
//! first step), so the third-party tree does not depend on the app's code.

mod clean;
mod command;
mod diagnose;
mod dists;
mod record;

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{bail, Context, Result};
use pyk_runtime_fetch::{GlibcVersion, PyVersion};
use pyk_static::EnvVars;

pub use command::lock as lock_command;
pub use dists::{ArchiveKind, Dist};

use crate::build::Platform;
use crate::spec::{hash_checking, Project, Spec};

/// What to install, and where.
pub struct Request<'a> {
    pub spec: &'a Spec,
    /// The unpacked runtime's interpreter.
    pub python: &'a Path,
    pub version: &'a PyVersion,
    /// The machine the artifact is for.
    pub platform: Platform,
    /// The runtime's glibc floor: the newest manylinux tag the pip fallback asks for.
    pub glibc: Option<GlibcVersion>,
    /// Where third-party distributions go …
    pub deps_target: &'a Path,
    /// … and the project's own (may be the same directory).
    pub app_target: &'a Path,
    /// A PEP 751 lock to install the third-party distributions from, exactly (see
    /// `build::locked`), instead of resolving the spec's requirements.
    pub lock: Option<&'a Path>,
}

/// What was installed.
pub struct Installed {
    /// Every distribution, third-party and the project's own (`Dist::own`).
    pub dists: Vec<Dist>,
    /// Things the build should say, e.g. a distribution whose file could not be recorded.
    pub warnings: Vec<String>,
}

/// The tool that runs the install.
pub enum Installer {
    Uv(OsString),
    /// A host Python with pip.
    Pip(OsString),
}

impl Installer {
    pub fn find() -> Result<Installer> {
        let forced = std::env::var(EnvVars::PYK_INSTALLER)
            .ok()
            .filter(|s| !s.is_empty());
        let uv = std::env::var_os(EnvVars::PYK_UV)
            .filter(|s| !s.is_empty())
            .or_else(|| on_path("uv"));
        let pip = std::env::var_os(EnvVars::PYK_PIP_PYTHON)
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

    /// uv's path, when uv is the installer.
    pub fn uv(&self) -> Option<&OsString> {
        match self {
            Installer::Uv(uv) => Some(uv),
            Installer::Pip(_) => None,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Installer::Uv(_) => "uv",
            Installer::Pip(_) => "pip",
        }
    }

    /// What the installer picks wheels for: the runtime's own interpreter decides for uv;
    /// pip is told the Python version and the platform tags.
    pub fn tags(&self, req: &Request) -> String {
        match self {
            Installer::Uv(_) => format!("wheels for {}", req.python.display()),
            Installer::Pip(_) => {
                let platforms = command::pip_platforms(req.platform.arch(), req.glibc);
                format!(
                    "wheels for cp{}{} on {} … {} ({} platform tags)",
                    req.version.major,
                    req.version.minor,
                    platforms[0],
                    platforms[platforms.len() - 1],
                    platforms.len()
                )
            }
        }
    }

    pub fn install(&self, req: &Request) -> Result<Installed> {
        let spec = req.spec;
        if let (Installer::Pip(_), [first, ..]) = (self, &spec.install.no_binary[..]) {
            bail!(
                "[install] no-binary ({first}) needs uv: the pip fallback installs for another interpreter, which pip does from wheels only (install uv, or set PYK_UV)"
            );
        }
        let scratch = tempfile::Builder::new()
            .prefix("pyk-install-")
            .tempdir()
            .context("cannot create a temporary directory")?;
        let scratch = scratch.path();
        let mut pip_reports = Vec::new();

        if !spec.dependencies.is_empty() || !spec.requirement_files.is_empty() {
            let hashes = spec.install.require_hashes || hash_checking(&spec.requirement_files)?;
            let third_party = |target: &Path| {
                let mut cmd = command::install(self, req, target, false);
                if let Some(lock) = req.lock {
                    // uv checks every file against the lock's hashes.
                    cmd.arg("-r").arg(lock);
                    return cmd;
                }
                if hashes {
                    cmd.arg("--require-hashes");
                }
                cmd.args(&spec.dependencies);
                for file in &spec.requirement_files {
                    cmd.arg("-r").arg(file);
                }
                cmd
            };
            let mut cmd = third_party(req.deps_target);
            if let Installer::Pip(_) = self {
                let report = scratch.join("deps.json");
                cmd.arg("--report").arg(&report);
                pip_reports.push(report);
            }
            let out = run(self, &mut cmd)?;
            if let (false, Some(lock)) = (out.status.success(), req.lock) {
                // One line: uv's lines joined (a hash mismatch names the file and both
                // digests).
                let stderr = String::from_utf8_lossy(&out.stderr);
                let said: Vec<&str> = stderr
                    .lines()
                    .map(|l| l.trim().trim_start_matches("error: "))
                    .filter(|l| !l.is_empty())
                    .collect();
                bail!(
                    "installing what {} says failed: {}",
                    lock.display(),
                    said.join(" ")
                );
            }
            if !out.status.success() {
                let retry = |target: &Path, overrides: &Path| {
                    let mut cmd = third_party(target);
                    cmd.arg("--overrides").arg(overrides);
                    cmd
                };
                let stderr = String::from_utf8_lossy(&out.stderr);
                return Err(diagnose::install_failure(
                    self, req, &stderr, scratch, &retry,
                ));
            }
        }

        if let Some(project) = &spec.project {
            if let Some(report) = self.install_project(req, project, scratch)? {
                pip_reports.push(report);
            }
        }

        let own = |name: &str| spec.project.as_ref().is_some_and(|p| p.owns(name));
        let mut dists = dists::read(req.deps_target, &own)?;
        if req.app_target != req.deps_target {
            dists.extend(dists::read(req.app_target, &own)?);
        }
        for target in targets(req) {
            clean::debris(target)?;
        }

        let mut warnings = Vec::new();
        match self {
            Installer::Pip(_) => {
                for report in &pip_reports {
                    record::from_pip_report(report, &mut dists)?;
                }
            }
            Installer::Uv(uv) => {
                if let Err(e) = record::from_uv(uv, req, scratch, &mut dists) {
                    warnings.push(format!(
                        "the files the dependencies came from could not be looked up: {}",
                        e.to_string().lines().next().unwrap_or_default()
                    ));
                }
            }
        }
        let unknown: Vec<&str> = dists
            .iter()
            .filter(|d| !d.own && d.source.is_none())
            .map(|d| d.name.as_str())
            .collect();
        if !unknown.is_empty() && warnings.is_empty() {
            warnings.push(format!(
                "no file (URL and hash) is known for {}",
                unknown.join(", ")
            ));
        }
        Ok(Installed { dists, warnings })
    }

    /// Builds the project's wheel and installs it; returns pip's report, if pip did it.
    fn install_project(
        &self,
        req: &Request,
        project: &Project,
        scratch: &Path,
    ) -> Result<Option<PathBuf>> {
        let wheels = scratch.join("wheel");
        fs::create_dir_all(&wheels)?;
        let out = run(
            self,
            &mut command::build_wheel(self, req, &project.dir, &wheels),
        )?;
        let wheel = fs::read_dir(&wheels)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|e| e == "whl"));
        let Some(wheel) = wheel.filter(|_| out.status.success()) else {
            bail!(
                "cannot build a wheel of the project in {} ({} failed):\n{}",
                project.dir.display(),
                self.name(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        };
        // With dynamic dependencies only the wheel's metadata names them: they are
        // installed with it, among the third-party ones, and the project moved out after.
        let dynamic = project.dynamic_dependencies;
        let target = if dynamic {
            req.deps_target
        } else {
            req.app_target
        };
        let mut cmd = command::install(self, req, target, !dynamic);
        cmd.arg(&wheel);
        let report = match self {
            Installer::Pip(_) => {
                let report = scratch.join("project.json");
                cmd.arg("--report").arg(&report);
                Some(report)
            }
            Installer::Uv(_) => None,
        };
        let out = run(self, &mut cmd)?;
        if !out.status.success() {
            bail!(
                "cannot install the project in {} ({} failed):\n{}",
                project.dir.display(),
                self.name(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        if dynamic && req.app_target != req.deps_target {
            let own = |name: &str| project.owns(name);
            for dist in dists::read(req.deps_target, &own)?.iter().filter(|d| d.own) {
                move_dist(dist, req.app_target)?;
            }
        }
        Ok(report)
    }
}

fn targets<'a>(req: &Request<'a>) -> Vec<&'a Path> {
    let mut targets = vec![req.deps_target];
    if req.app_target != req.deps_target {
        targets.push(req.app_target);
    }
    targets
}

fn run(installer: &Installer, cmd: &mut Command) -> Result<Output> {
    cmd.output()
        .with_context(|| format!("cannot run {}", installer.name()))
}

/// Moves an installed distribution's files (as RECORD lists them) to another tree.
fn move_dist(dist: &Dist, to: &Path) -> Result<()> {
    let files = dist.files()?;
    for file in &files {
        let (from, dest) = (dist.root().join(file), to.join(file));
        if !from.exists() {
            continue;
        }
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::rename(&from, &dest)
            .with_context(|| format!("cannot move {} to {}", from.display(), dest.display()))?;
    }
    // Leave no empty package directories behind, deepest first.
    let mut dirs: Vec<PathBuf> = files
        .iter()
        .flat_map(|f| {
            f.ancestors()
                .skip(1)
                .map(Path::to_path_buf)
                .collect::<Vec<_>>()
        })
        .filter(|d| !d.as_os_str().is_empty())
        .collect();
    dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    dirs.dedup();
    for dir in dirs {
        let _ = fs::remove_dir(dist.root().join(dir));
    }
    Ok(())
}

fn on_path(program: &str) -> Option<OsString> {
    let path = std::env::var_os(EnvVars::PATH)?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .map(PathBuf::into_os_string)
}

#[cfg(test)]
mod tests;
