//! `pyk build`: loads the spec (pyk.toml or pyproject.toml) and builds the artifact;
//! `pyk publish` builds through here too.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use pyk_static::EnvVars;

use super::Context;
use crate::cli::BuildArgs;
use crate::{build, environ, spec};

pub fn load_spec(args: &BuildArgs) -> Result<spec::Spec> {
    spec::load(&spec::Args {
        path: &args.path,
        entry: args.entry.as_deref(),
        script: args.script.as_deref(),
        name: args.name.as_deref(),
        requirements: &args.requirements,
    })
}

pub fn run(ctx: &Context, spec: &spec::Spec, args: &BuildArgs) -> Result<PathBuf> {
    with_options(ctx, args, |opts| build::build(spec, opts, &ctx.progress))
}

/// `pyk lock`: the spec's `pylock.toml`.
pub fn lock(ctx: &Context, spec: &spec::Spec, args: &BuildArgs) -> Result<PathBuf> {
    with_options(ctx, args, |opts| build::lock(spec, opts, &ctx.progress))
}

fn with_options<T>(
    ctx: &Context,
    args: &BuildArgs,
    then: impl FnOnce(&build::Options) -> Result<T>,
) -> Result<T> {
    then(&build::Options {
        cache: ctx.cache()?,
        built: build_time()?,
        level: layer_level(),
        python: args.python.clone(),
        runtime_archive: args.runtime.as_deref(),
        mirror: &|| ctx.config.python_mirror(),
        output: args.output.clone(),
        strip_stdlib: args.strip_stdlib,
        platform: build::Platform::parse(args.platform.as_deref())?,
        locked: args.locked,
    })
}

/// The build time for the trailer: `SOURCE_DATE_EPOCH` (reproducible builds), else now.
fn build_time() -> Result<u64> {
    match std::env::var(EnvVars::SOURCE_DATE_EPOCH) {
        Ok(v) if !v.is_empty() => v
            .trim()
            .parse()
            .with_context(|| format!("SOURCE_DATE_EPOCH={v:?} is not a number of seconds")),
        _ => Ok(std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())),
    }
}

/// zstd level of deps and app layers: `PYK_ZSTD_LEVEL` (shared with runtime layers), else 12.
/// These layers are compressed on every build, unlike a runtime's: on a numpy app here,
/// level 19 took ~5x as long as 12 for a deps layer 9% smaller.
fn layer_level() -> i32 {
    environ::zstd_level().unwrap_or(12).clamp(1, 22)
}
