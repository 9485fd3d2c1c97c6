//! The installer command lines: the same `[install]` options given to uv and to pip.

use std::ffi::OsString;
use std::path::Path;
use std::process::Command;

use pyk_runtime_fetch::GlibcVersion;

use super::{Installer, Request};
use crate::spec::InstallOptions;

/// Options that say where distributions come from (install, wheel builds, uv's compile).
fn index_args(installer: &Installer, o: &InstallOptions) -> Vec<OsString> {
    let mut args: Vec<OsString> = Vec::new();
    let mut pair = |flag: &str, value: &str| {
        args.push(flag.into());
        args.push(value.into());
    };
    if let Some(url) = &o.index_url {
        pair("--index-url", url);
    }
    for url in &o.extra_index_urls {
        pair("--extra-index-url", url);
    }
    for link in &o.find_links {
        pair("--find-links", link);
    }
    for host in &o.trusted_hosts {
        match installer {
            Installer::Uv(_) => pair("--allow-insecure-host", host),
            Installer::Pip(_) => pair("--trusted-host", host),
        }
    }
    if o.no_index {
        args.push("--no-index".into());
    }
    args
}

/// Options that shape the resolution.
fn resolution_args(installer: &Installer, o: &InstallOptions) -> Vec<OsString> {
    let mut args: Vec<OsString> = Vec::new();
    for name in &o.only_binary {
        args.extend(["--only-binary".into(), name.into()]);
    }
    for name in &o.no_binary {
        args.extend(["--no-binary".into(), name.into()]);
    }
    for file in &o.constraints {
        args.extend(["-c".into(), file.into()]);
    }
    if o.pre {
        match installer {
            Installer::Uv(_) => args.extend(["--prerelease".into(), "allow".into()]),
            Installer::Pip(_) => args.push("--pre".into()),
        }
    }
    args
}

/// uv's options for an artifact of another machine: that machine's wheels, and none built
/// here (a compiled extension would be built for this machine).
fn platform_args(req: &Request) -> Vec<OsString> {
    match req.platform.foreign() {
        false => Vec::new(),
        true => vec![
            "--python-platform".into(),
            req.platform.triple().into(),
            "--no-build".into(),
        ],
    }
}

/// `install --target TARGET` for the runtime's Python, with every `[install]` option; the
/// caller adds what to install. pip installs for another interpreter only with `--no-deps`
/// or `--only-binary=:all:`, so without `no_deps` it takes wheels only.
pub fn install(installer: &Installer, req: &Request, target: &Path, no_deps: bool) -> Command {
    let o = &req.spec.install;
    let mut cmd = match installer {
        Installer::Uv(uv) => {
            let mut cmd = Command::new(uv);
            // Copies, not hard links into uv's cache: the build rewrites what it packs.
            cmd.args([
                "pip",
                "install",
                "--no-config",
                "--quiet",
                "--link-mode=copy",
            ])
            .arg("--python")
            .arg(req.python)
            .args(platform_args(req));
            cmd
        }
        Installer::Pip(python) => {
            let mut cmd = Command::new(python);
            let v = format!("{}.{}", req.version.major, req.version.minor);
            cmd.args(["-m", "pip", "install", "--quiet", "--no-input"])
                .args(["--disable-pip-version-check", "--no-compile"])
                .args(["--python-version", &v, "--implementation", "cp"]);
            for platform in pip_platforms(req.platform.arch(), req.glibc) {
                cmd.args(["--platform", &platform]);
            }
            if !no_deps {
                cmd.arg("--only-binary=:all:");
            }
            cmd
        }
    };
    cmd.current_dir(&req.spec.base).arg("--target").arg(target);
    if no_deps {
        cmd.arg("--no-deps");
    }
    cmd.args(index_args(installer, o))
        .args(resolution_args(installer, o));
    cmd
}

/// The platforms pip installs wheels for: every manylinux tag from the runtime's glibc
/// floor down to glibc 2.5, each with its legacy alias (`manylinux2014` is 2.17), then
/// plain `linux`; never musllinux (the runtimes are glibc builds). pip takes the list as
/// given: it does not widen `manylinux_2_28` to the older tags itself. A runtime with no
/// recorded floor gets 2.17, the oldest glibc pyk's launcher runs on.
pub fn pip_platforms(arch: &str, glibc: Option<GlibcVersion>) -> Vec<String> {
    let floor = match glibc {
        Some(g) if g.major == 2 && g.minor >= 5 => g.minor,
        _ => 17,
    };
    let mut out = Vec::new();
    for minor in (5..=floor).rev() {
        out.push(format!("manylinux_2_{minor}_{arch}"));
        let legacy = match minor {
            17 => Some("manylinux2014"),
            12 => Some("manylinux2010"),
            5 => Some("manylinux1"),
            _ => None,
        };
        if let Some(legacy) = legacy {
            out.push(format!("{legacy}_{arch}"));
        }
    }
    out.push(format!("linux_{arch}"));
    out
}

/// Builds the project's wheel into `out` (uv with the runtime's interpreter; pip with its
/// own, which is the same for a pure-Python project).
pub fn build_wheel(installer: &Installer, req: &Request, project: &Path, out: &Path) -> Command {
    let mut cmd = match installer {
        Installer::Uv(uv) => {
            let mut cmd = Command::new(uv);
            cmd.args(["build", "--no-config", "--quiet", "--wheel", "--python"])
                .arg(req.python)
                .arg("--out-dir")
                .arg(out);
            cmd
        }
        Installer::Pip(python) => {
            let mut cmd = Command::new(python);
            cmd.args(["-m", "pip", "wheel", "--quiet", "--no-input", "--no-deps"])
                .arg("--disable-pip-version-check")
                .arg("--wheel-dir")
                .arg(out);
            cmd
        }
    };
    cmd.current_dir(project)
        .args(index_args(installer, &req.spec.install))
        .arg(project);
    cmd
}

/// uv: resolves exact pins again, without dependencies, into a PEP 751 `pylock.toml` at
/// `out`, to learn each installed distribution's file, URL and sha256. `offline` answers
/// from uv's cache, which the install just filled: what the install saw, with no request.
pub fn lock_pins(uv: &OsString, req: &Request, pins: &Path, out: &Path, offline: bool) -> Command {
    let mut cmd = compile(uv, req, out);
    if offline {
        cmd.arg("--offline");
    }
    cmd.arg("--no-deps").arg(pins);
    cmd
}

/// uv: resolves `inputs` (requirements files) for the runtime's interpreter and the target
/// platform into a PEP 751 `pylock.toml` at `out` (`pyk lock`).
pub fn lock(uv: &OsString, req: &Request, inputs: &[&Path], out: &Path) -> Command {
    let mut cmd = compile(uv, req, out);
    cmd.args(inputs);
    cmd
}

/// `uv pip compile` into a `pylock.toml` at `out`, for the runtime's interpreter, the target
/// platform and the spec's index and resolution options; the caller adds what to resolve.
fn compile(uv: &OsString, req: &Request, out: &Path) -> Command {
    let installer = Installer::Uv(uv.clone());
    let mut cmd = Command::new(uv);
    cmd.args(["pip", "compile", "--no-config", "--quiet", "--no-header"])
        .args(["--format", "pylock.toml", "--python"])
        .arg(req.python)
        .args(platform_args(req))
        .arg("--output-file")
        .arg(out)
        .current_dir(&req.spec.base)
        .args(index_args(&installer, &req.spec.install))
        .args(resolution_args(&installer, &req.spec.install));
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pip_platforms_run_from_the_floor_down_with_legacy_aliases() {
        let arch = std::env::consts::ARCH;
        let p = pip_platforms(
            arch,
            Some(GlibcVersion {
                major: 2,
                minor: 36,
            }),
        );
        assert_eq!(p[0], format!("manylinux_2_36_{arch}"));
        assert!(p.contains(&format!("manylinux_2_28_{arch}")));
        assert!(p.contains(&format!("manylinux2014_{arch}")));
        assert_eq!(p[p.len() - 2], format!("manylinux1_{arch}"));
        assert_eq!(p[p.len() - 1], format!("linux_{arch}"));
        assert!(!p.iter().any(|t| t.contains("musl")));
        assert_eq!(
            pip_platforms(arch, None)[0],
            format!("manylinux_2_17_{arch}")
        );
    }
}
