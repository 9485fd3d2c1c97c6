//! `pyk run NAME` and `pyk NAME`: resolves a run package from the cache or the repository
//! and execs it.

use std::ffi::{OsStr, OsString};

use anyhow::Result;
use pyk_protocol::Kind;

use super::Context;
use crate::{fetch as runner, hints};

pub fn run(ctx: &Context, name: &str, argv0: Option<&OsStr>, args: &[OsString]) -> Result<()> {
    let resolved = runner::resolve(
        ctx.config,
        ctx.cache()?,
        Kind::Run,
        name,
        None,
        &ctx.progress,
    )
    .map_err(|e| hints::wrong_kind(ctx.config, Kind::Run, name, false, e))?;
    runner::exec(&resolved, argv0, args).map(drop)
}
