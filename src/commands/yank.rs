//! `pyk yank NAME VERSION`: makes a version ineligible for latest (or, with --undo,
//! eligible again).

use anyhow::Result;
use pyk_protocol::names::check_version;
use pyk_protocol::{Kind, PackageRef};

use super::latest::{refuse_unpromoted, report_latest};
use super::Context;
use crate::output::status;
use crate::repo::writer;

pub fn run(
    ctx: &Context,
    kind: Kind,
    name: &str,
    version: &str,
    undo: bool,
    force: bool,
) -> Result<()> {
    let package = PackageRef::new(kind, name)?;
    check_version(version)?;
    let client = writer(ctx.config)?;
    let before = client.versions(&package)?;
    if !undo {
        refuse_unpromoted(&before, &package, version, "yanking", force)?;
    }
    client.yank(&package, version, !undo)?;
    status!(
        "{kind} {name} version {version} {}",
        if undo {
            "is eligible for latest again (`pyk promote` makes it latest)"
        } else {
            "is yanked (`pyk yank --undo` takes that back)"
        }
    );
    report_latest(&client, &package, before.latest.as_deref())
}
