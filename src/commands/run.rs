//! `pyk run NAME` and `pyk NAME`: resolves a run package from the cache or the repository
//! (`crate::fetch`) and execs it through the exec contract (`pyk_artifact::launch`), with
//! the layers unpacked in the cache; a pushed file runs directly.

use std::convert::Infallible;
use std::ffi::{OsStr, OsString};
use std::os::unix::process::CommandExt;
use std::process::Command;

use anyhow::{bail, Context as _, Result};
use pyk_client::{Contents, Resolved};
use pyk_protocol::Kind;
use pyk_static::EnvVars;

use super::Context;
use crate::{fetch, hints};

pub fn run(ctx: &Context, name: &str, argv0: Option<&OsStr>, args: &[OsString]) -> Result<()> {
    let resolved = fetch::resolve(ctx, Kind::Run, name, None)
        .map_err(|e| hints::wrong_kind(ctx.config, Kind::Run, name, false, e))?;
    exec(&resolved, argv0, args).map(drop)
}

/// Replaces this process with the package's program, whose `sys.argv[0]` is `argv0`
/// (default: the package's name): a pushed file directly, a pyk program through the exec
/// contract.
fn exec(resolved: &Resolved, argv0: Option<&OsStr>, args: &[OsString]) -> Result<Infallible> {
    let m = &resolved.manifest;
    let argv0 = argv0.unwrap_or(OsStr::new(&m.name));
    if !m.executable {
        bail!(
            "{} {} is a file, not a program: `pyk pull {}` writes it out",
            m.name,
            m.version,
            m.name
        );
    }
    let mut cmd = match &resolved.contents {
        Contents::File(path) => {
            let mut cmd = Command::new(path);
            cmd.arg0(argv0).args(args);
            cmd
        }
        Contents::Layers(unpacked) => {
            let layers = unpacked.layers().with_context(|| {
                format!(
                    "{} is a library: import it (`from pyk import {}`)",
                    m.name, m.name
                )
            })?;
            // The shared locks on the entries stay held by the program, so no prune
            // removes them while it runs.
            unpacked
                .keep_across_exec()
                .context("cannot keep the cache locks across exec")?;
            layers.command(argv0, args.iter().cloned())
        }
    };
    let err = cmd
        .env(EnvVars::PYK_PACKAGE, &m.name)
        .env(EnvVars::PYK_VERSION, &m.version)
        .exec();
    Err(err).with_context(|| format!("cannot run {} {}", m.name, m.version))
}
