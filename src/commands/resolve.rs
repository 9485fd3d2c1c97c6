//! `pyk resolve KIND NAME`: prints the import directories of a library package, for the
//! Python import hook; with --hold, keeps the entries locked until stdin closes.

use anyhow::{bail, Result};
use pyk_protocol::Kind;

use super::Context;
use crate::{fetch, hints};

pub fn run(ctx: &Context, kind: &str, name: &str, python: Option<&str>, hold: bool) -> Result<()> {
    let kind: Kind = kind.parse()?;
    let resolved = fetch::resolve(ctx, kind, name, None)
        .map_err(|e| hints::wrong_kind(ctx.config, kind, name, false, e))?;
    if let Some(want) = python {
        let built = &resolved.manifest.python;
        if built != want {
            bail!("{kind} package {name} was built for Python {built}; this is Python {want}");
        }
    }
    let pyk_client::Contents::Layers(unpacked) = &resolved.contents else {
        bail!("{kind} package {name} is a file, not a library");
    };
    for dir in unpacked.import_dirs() {
        println!("{}", dir.display());
    }
    if hold {
        // `resolved` holds the entries' locks until it is dropped, after this.
        println!();
        std::io::Write::flush(&mut std::io::stdout())?;
        std::io::copy(&mut std::io::stdin(), &mut std::io::sink())?;
    }
    Ok(())
}
