//! `pyk remove NAME [VERSION]`: deletes a version, or a whole package.

use anyhow::{bail, Result};
use pyk_protocol::names::check_version;
use pyk_protocol::{Kind, PackageRef};

use super::latest::{describe, moves_latest, report_latest};
use super::Context;
use crate::output::status;
use crate::repo::writer;

pub fn run(
    ctx: &Context,
    kind: Kind,
    name: &str,
    version: Option<&str>,
    force: bool,
    yes: bool,
) -> Result<()> {
    let package = PackageRef::new(kind, name)?;
    if version.is_none() && !yes {
        confirm_removal(kind, name)?;
    }
    let client = writer(ctx.config)?;
    match version {
        Some(v) => {
            check_version(v)?;
            let before = client.versions(&package)?;
            if !force {
                if let Some(target) = moves_latest(&before, v) {
                    bail!(
                        "version {v} is the latest of {kind} {name}: deleting it moves latest to \
                         {}; pass --force to do that, or `pyk promote` another version first",
                        describe(target)
                    );
                }
            }
            client.remove_version(&package, v, force)?;
            status!("removed version {v} of {kind} package {name}");
            report_latest(&client, &package, before.latest.as_deref())?;
        }
        None => {
            client.remove(&package)?;
            status!("removed {kind} package {name}");
        }
    }
    Ok(())
}

/// Asks on the terminal before a whole package is deleted; without a terminal, refuses
/// unless `--yes` said so.
fn confirm_removal(kind: Kind, name: &str) -> Result<()> {
    use std::io::{BufRead, IsTerminal, Write};
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        bail!(
            "removing {kind} {name} deletes every version of it: pass --yes to do that \
             without a terminal to ask on (or --version V to delete one)"
        );
    }
    eprint!("pyk: delete every version of {kind} {name}? [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer)?;
    if !matches!(answer.trim(), "y" | "Y" | "yes") {
        bail!("{kind} {name} left as it was");
    }
    Ok(())
}
