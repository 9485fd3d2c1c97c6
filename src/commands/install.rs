//! Putting published packages at users' fingertips: launchers on PATH (`pyk install`)
//! and the `pyk` import hook in a Python interpreter (`pyk python-setup`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use pyk_static::EnvVars;

use pyk_protocol::{Kind, PackageRef};

use crate::config::Config;
use crate::files::write_atomic;
use crate::output::{note, status};

/// The line that marks a launcher as pyk's own, so reinstalling may replace it.
const LAUNCHER_MARK: &str = "# Launcher written by `pyk install`";
/// The first line of the hook module, likewise.
const HOOK_MARK: &str = "\"\"\"pyk: import libraries published to a pyk repository.";

fn pyk_binary() -> Result<PathBuf> {
    std::env::current_exe().context("cannot find the pyk binary's own path")
}

/// Single-quotes a path for sh.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Refuses to replace a file that pyk did not write.
fn check_ours(path: &Path, mark: &str) -> Result<()> {
    match fs::read(path) {
        Ok(bytes) if !String::from_utf8_lossy(&bytes).contains(mark) => {
            bail!(
                "{} exists and was not written by pyk; remove it first",
                path.display()
            )
        }
        _ => Ok(()),
    }
}

/// `pyk install NAME [DIR]`.
pub fn run(ctx: &super::Context, name: &str, dir: Option<&Path>) -> Result<()> {
    launcher(ctx.config, name, dir)
        .map_err(|e| crate::hints::wrong_kind(ctx.config, Kind::Run, name, false, e))
}

/// Writes the launcher `DIR/NAME`. When the server answers, the program must exist there;
/// when it does not answer (offline, no config yet), the launcher is written all the same.
fn launcher(config: &Config, name: &str, dir: Option<&Path>) -> Result<()> {
    if !pyk_artifact::trailer::valid_name(name) {
        bail!("invalid package name {name:?}");
    }
    let dir = match dir {
        Some(dir) => dir.to_path_buf(),
        None => PathBuf::from(
            std::env::var_os(EnvVars::HOME).context("HOME is not set: name a directory")?,
        )
        .join(".local/bin"),
    };
    let path = dir.join(name);
    check_ours(&path, LAUNCHER_MARK)?;
    let package = PackageRef::new(Kind::Run, name)?;
    if let Ok(client) = crate::repo::client(config) {
        match client.versions(&package) {
            Err(e @ pyk_client::Error::NotFound { .. }) => {
                return Err(e).context(format!(
                    "nothing to install: `{name}` is not a published program"
                ))
            }
            Err(e) if e.is_network() => {
                note!(
                    "{:#}: the launcher is written without checking that {name} exists",
                    anyhow::Error::from(e)
                )
            }
            _ => {}
        }
    }
    let pyk = pyk_binary()?;
    // The program is called by the launcher's own name (a symlink's, if it is one), as a
    // script on PATH would be.
    let script = format!(
        "#!/bin/sh\n{LAUNCHER_MARK} for the package {name}.\nexec {} run --argv0 \"${{0##*/}}\" {name} \"$@\"\n",
        sh_quote(&pyk.to_string_lossy())
    );
    write_atomic(&path, script.as_bytes(), 0o755)?;
    status!(
        "wrote {}: `{name} args…` runs the published {name}",
        path.display()
    );
    let on_path = std::env::var_os(EnvVars::PATH)
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d == dir));
    if !on_path {
        note!("{} is not on PATH", dir.display());
    }
    Ok(())
}

/// Installs the hook module where `python` imports it from.
pub fn python_hook(python: &Path) -> Result<()> {
    const PROBE: &str = "import site, sys, sysconfig\n\
        print('%d.%d' % sys.version_info[:2])\n\
        venv = sys.prefix != sys.base_prefix\n\
        print(sysconfig.get_paths()['purelib'] if venv else (site.getusersitepackages() if site.ENABLE_USER_SITE else ''))";
    let out = Command::new(python)
        .args(["-c", PROBE])
        .output()
        .with_context(|| format!("cannot run {}", python.display()))?;
    if !out.status.success() {
        bail!(
            "{} failed: {}",
            python.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let version = lines.next().unwrap_or_default();
    let (major, minor) = version.split_once('.').unwrap_or_default();
    if major != "3" || minor.parse::<u32>().unwrap_or(0) < 9 {
        bail!(
            "{} is Python {version}; the pyk hook needs Python 3.9 or newer",
            python.display()
        );
    }
    let site = lines.next().unwrap_or_default();
    if site.is_empty() {
        bail!("{} has user site-packages disabled; run python-setup with a virtualenv's python, or enable them", python.display());
    }
    let path = Path::new(site).join("pyk").join("__init__.py");
    check_ours(&path, HOOK_MARK)?;
    let pyk = pyk_binary()?;
    let module = include_str!("../python/pyk_hook.py")
        .replace("__PYK_BIN__", &format!("{:?}", pyk.to_string_lossy()));
    write_atomic(&path, module.as_bytes(), 0o644)?;
    status!(
        "wrote {}: `from pyk import NAME` now works in {} (Python {version})",
        path.display(),
        python.display()
    );
    Ok(())
}
