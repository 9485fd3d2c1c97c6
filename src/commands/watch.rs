//! `pyk watch NAME`: waits for new versions of a package and prints each.

use anyhow::{bail, Result};
use pyk_protocol::{Kind, PackageRef};

use super::Context;
use crate::output::human_size;
use crate::repo::client;

pub fn run(ctx: &Context, kind: Kind, name: &str, once: bool) -> Result<()> {
    let package = PackageRef::new(kind, name)?;
    let client = client(ctx.config)?;
    let mut current = match client.current(&package, None) {
        Ok(Some(m)) => m.version,
        Ok(None) => bail!("the server answered 304 to an unconditional request"),
        Err(pyk_client::Error::NotFound { .. }) => String::new(),
        Err(e) => return Err(e.into()),
    };
    let shown = if current.is_empty() { "none" } else { &current };
    if !crate::output::quiet() {
        eprintln!(
            "watching {kind} package {name} on {} (latest: {shown})",
            client.server()
        );
    }
    loop {
        if let Some(m) = client.watch(&package, &current, 60)? {
            println!(
                "{kind} {name}: version {} published by {} ({})",
                m.version,
                m.publisher,
                human_size(m.size)
            );
            current = m.version;
            if once {
                return Ok(());
            }
        }
    }
}
