//! `pyk build`: loads the spec (pyk.toml or pyproject.toml) and builds the artifact;
//! `pyk publish` builds through here too.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use pyk_static::EnvVars;

use super::Context;
use crate::cli::BuildArgs;
use crate::{build, environ, spec};
use pyk_protocol::progress::Progress as _;

pub fn load_spec(args: &BuildArgs) -> Result<spec::Spec> {
    spec::load(&spec::Args {
        path: &args.path,
        entry: args.entry.as_deref(),
        script: args.script.as_deref(),
        name: args.name.as_deref(),
        requirements: &args.requirements,
    })
}

/// Builds an artifact for each platform asked for (`--platform`, else the spec's
/// `platforms`, else this machine): `dist/NAME` for one, `dist/NAME-PLATFORM` for each of
/// several. A library with no native code is built once: it runs on every machine.
pub fn run(ctx: &Context, spec: &spec::Spec, args: &BuildArgs) -> Result<Vec<build::Built>> {
    let platforms = build::Platform::parse_all(&args.platform, &spec.platforms)?;
    let output = |platform: build::Platform| -> Option<PathBuf> {
        if platforms.len() == 1 {
            return args.output.clone();
        }
        let base = args
            .output
            .clone()
            .unwrap_or_else(|| spec.base.join("dist").join(&spec.name));
        let mut name = base.file_name().unwrap_or_default().to_owned();
        name.push(format!("-{}", platform.name()));
        Some(base.with_file_name(name))
    };
    let mut built = Vec::new();
    for &platform in &platforms {
        let artifact = with_options(ctx, args, platform, output(platform), |opts| {
            build::build(spec, opts, &ctx.progress)
        })?;
        let pure = artifact.pure;
        built.push(artifact);
        if pure {
            if platforms.len() > 1 {
                ctx.progress.step(&format!(
                    "{} has no native code: one artifact serves every platform",
                    spec.name
                ));
            }
            break;
        }
    }
    Ok(built)
}

/// `pyk lock`: the spec's `pylock.toml`, resolved for the first platform asked for.
pub fn lock(ctx: &Context, spec: &spec::Spec, args: &BuildArgs) -> Result<PathBuf> {
    let platforms = build::Platform::parse_all(&args.platform, &spec.platforms)?;
    with_options(ctx, args, platforms[0], args.output.clone(), |opts| {
        build::lock(spec, opts, &ctx.progress)
    })
}

/// The build's options from the command line, for one platform, handed to `then`.
fn with_options<T>(
    ctx: &Context,
    args: &BuildArgs,
    platform: build::Platform,
    output: Option<PathBuf>,
    then: impl FnOnce(&build::Options) -> Result<T>,
) -> Result<T> {
    then(&build::Options {
        cache: ctx.cache()?,
        built: build_time()?,
        level: layer_level(),
        python: args.python.clone(),
        runtime_archives: &args.runtime,
        mirror: &|| ctx.config.python_mirror(),
        output,
        strip_stdlib: args.strip_stdlib,
        platform,
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
