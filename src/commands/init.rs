//! `pyk init NAME LOCALNAME`: the name a package is pulled as.

use anyhow::Result;
use pyk_protocol::{Kind, PackageRef};

use super::Context;
use crate::output::status;
use crate::repo::client;

pub fn run(ctx: &Context, kind: Kind, name: &str, localname: &str) -> Result<()> {
    client(ctx.config)?.set_localname(&PackageRef::new(kind, name)?, localname)?;
    status!("{kind} {name} is pulled as {localname}");
    Ok(())
}
