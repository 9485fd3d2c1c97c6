//! `pyk shell foo` and `pyk exec foo -- script.py args…`: a package as an environment.
//! Its artifact runs with `PYK_MAIN=python`, so the launcher execs the runtime's
//! interpreter, rather than the entry, with the app and its dependencies importable
//! (the exec contract, `pyk_artifact::launch::Main`).

use std::convert::Infallible;
use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::process::Command;

use anyhow::{bail, Context as _, Result};
use pyk_artifact::trailer::Trailer;
use pyk_protocol::platforms;
use pyk_static::EnvVars;

use super::Context;
use crate::cli::PackageArg;
use crate::fetch::{self, WholeFile};

pub fn run(ctx: &Context, package: &PackageArg, args: &[OsString]) -> Result<()> {
    ctx.with_hint(package, || {
        let whole = fetch::whole(ctx, package.kind(), &package.name, None)?;
        exec(&whole, args).map(drop)
    })
}

/// Replaces this process with the package's interpreter, given `args`.
fn exec(resolved: &WholeFile, args: &[OsString]) -> Result<Infallible> {
    let m = &resolved.manifest;
    if !m.executable || m.format != pyk_protocol::api::FORMAT_PYK {
        bail!(
            "{} {} is a pushed file, not a pyk package: it has no Python",
            m.name,
            m.version
        );
    }
    refuse_foreign_interpreter(resolved)?;
    let err = Command::new(&resolved.path)
        .arg0(&m.name)
        .args(args)
        .env(EnvVars::PYK_MAIN, "python")
        .env(EnvVars::PYK_PACKAGE, &m.name)
        .env(EnvVars::PYK_VERSION, &m.version)
        .exec();
    Err(err).with_context(|| format!("cannot run {}", resolved.path.display()))
}

/// A library published once for any machine carries the interpreter of the machine it was
/// built on, which another machine's kernel cannot run: say so, and how such a library is
/// used there, rather than fail the exec with "Exec format error".
fn refuse_foreign_interpreter(resolved: &WholeFile) -> Result<()> {
    let m = &resolved.manifest;
    let file = std::fs::File::open(&resolved.path)
        .with_context(|| format!("cannot read {}", resolved.path.display()))?;
    let trailer = Trailer::read(&file).with_context(|| format!("{}", resolved.path.display()))?;
    let built = trailer
        .platform
        .as_deref()
        .unwrap_or(platforms::LINUX_X86_64);
    let here = pyk_protocol::dist::platform();
    if built != here {
        bail!(
            "{} {} version {} is published for any machine, but its interpreter is built for \
             {built}, not for this one ({here}): import it from this machine's Python (`from \
             pyk import {}`, after `pyk python-setup`)",
            m.kind,
            m.name,
            m.version,
            m.name
        );
    }
    Ok(())
}
