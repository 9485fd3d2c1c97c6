//! `pyk promote NAME VERSION`: makes a version the latest.

use anyhow::Result;
use pyk_protocol::names::check_version;
use pyk_protocol::{Kind, PackageRef};

use super::Context;
use crate::output::status;
use crate::repo::writer;

pub fn run(ctx: &Context, kind: Kind, name: &str, version: &str) -> Result<()> {
    let package = PackageRef::new(kind, name)?;
    check_version(version)?;
    let m = writer(ctx.config)?.promote(&package, version)?;
    status!("{kind} {name}: latest is now version {}", m.version);
    Ok(())
}
