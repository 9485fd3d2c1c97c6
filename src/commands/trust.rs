//! `pyk trust NAME KEY` and `pyk trust reset NAME`: the key this machine pins a package to,
//! and what it remembers of the package's signed latest.

use anyhow::Result;
use pyk_protocol::{Kind, PackageRef};

use super::Context;
use crate::output::status;

/// `pyk trust reset NAME`: forgets the newest `latest` this machine accepted for the
/// package (see `pyk_client::Trust::forget`), and the key it was pinned to on first use.
pub fn reset(ctx: &Context, kind: Kind, name: &str) -> Result<()> {
    let package = PackageRef::new(kind, name)?;
    let trust = ctx.config.trust(ctx.cache()?.root())?;
    if let Some(key) = trust.unpin(&package)? {
        status!(
            "forgot the key {kind} {name} was pinned to ({key}): the next signed version pins anew"
        );
    }
    match trust.forget(&package)? {
        Some((issued, version)) => status!(
            "forgot the latest of {kind} {name} this machine had accepted (version {version}, \
             issued {issued} ms): the next signed one is taken as on a fresh machine"
        ),
        None => status!("this machine remembers no latest of {kind} {name}"),
    }
    Ok(())
}

/// `pyk trust NAME KEY`: pins `name` to `key`, as after a publisher changed keys.
pub fn pin(ctx: &Context, kind: Kind, name: &str, key: &str) -> Result<()> {
    let package = PackageRef::new(kind, name)?;
    let key = pyk_crypto::sign::PublicKey::parse(key)?;
    match ctx.config.trust(ctx.cache()?.root())?.pin(&package, &key)? {
        Some(before) if before == key => status!("{kind} {name} is already pinned to {key}"),
        Some(before) => status!("{kind} {name} is pinned to {key} (was {before})"),
        None => status!("{kind} {name} is pinned to {key}"),
    }
    Ok(())
}
