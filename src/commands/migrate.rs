//! `pyk migrate FROM TO`: a whole repository from one store to another (see
//! `pyk_server::store::migrate` for the order that makes it safe to kill and rerun).

use anyhow::{bail, Context as _, Result};
use pyk_protocol::progress::Progress as _;
use pyk_server::store::migrate::{migrate as copy, Step};
use pyk_server::store::{Store, StoreConfig};

use super::Context;
use crate::output::human_size;

pub fn run(ctx: &Context, from: &str, to: &str) -> Result<()> {
    let (config, progress) = (ctx.config, &ctx.progress);
    let key = config.read_key()?;
    let open = |spec: &str| -> Result<Store> {
        let store = config.store()?.store(Some(spec), spec)?;
        Store::open(&store).with_context(|| format!("opening {store}"))
    };
    // Opening a directory store creates one: a mistyped FROM would copy nothing.
    if let StoreConfig::Embedded { path } = config.store()?.store(Some(from), from)? {
        if !path.join("meta.sqlite").is_file() {
            bail!(
                "{}: no store there (a store directory holds meta.sqlite)",
                path.display()
            );
        }
    }
    let (source, target) = (open(from)?, open(to)?);
    let done = copy(&source, &target, key, &mut |step: Step| {
        progress.step(&format!(
            "{} {}: {} version{}, {} blob{} copied ({})",
            step.kind,
            step.name,
            step.versions,
            if step.versions == 1 { "" } else { "s" },
            step.blobs,
            if step.blobs == 1 { "" } else { "s" },
            human_size(step.bytes)
        ))
    })
    .with_context(|| format!("migrating {from} to {to}"))?;
    println!(
        "{} package(s), {} version(s): {} blob(s) copied ({}), {} already in {to}",
        done.packages,
        done.versions,
        done.blobs,
        human_size(done.bytes),
        done.present
    );
    Ok(())
}
