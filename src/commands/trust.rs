//! `pyk trust reset NAME`: what this machine remembers of a package's signed latest.

use anyhow::Result;
use pyk_protocol::{Kind, PackageRef};

use super::Context;
use crate::output::status;

/// `pyk trust reset NAME`: forgets the newest `latest` this machine accepted for the
/// package (see `pyk_client::Trust::forget`).
pub fn run(ctx: &Context, kind: Kind, name: &str) -> Result<()> {
    let package = PackageRef::new(kind, name)?;
    match ctx.config.trust(ctx.cache()?.root())?.forget(&package)? {
        Some((issued, version)) => status!(
            "forgot the latest of {kind} {name} this machine had accepted (version {version}, \
             issued {issued} ms): the next signed one is taken as on a fresh machine"
        ),
        None => status!("this machine remembers no latest of {kind} {name}"),
    }
    Ok(())
}
