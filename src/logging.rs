//! `-v` and `PYK_LOG`: debug logging on stderr through `tracing`, as uv has. The libraries
//! emit the events (each request with its status and time, each cache entry used or
//! filled, each lock waited on, why a fallback fired); only the binary installs a
//! subscriber, and only when asked: with none, an event costs one load of a global level,
//! so a warm `pyk foo` pays nothing for them.

use std::env::{self, VarError};

use anyhow::{anyhow, bail, Result};
use pyk_static::EnvVars;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::time::uptime;
use tracing_subscriber::prelude::*;

/// Logs what `PYK_LOG` (a filter of targets and levels: `debug`, `pyk_cache=trace,info`)
/// asks for, else what `verbose` does (`-v`: debug, `-vv`: trace); nothing when neither
/// asks. The filter is `tracing`'s `Targets`, which reads these lists, not its `EnvFilter`,
/// whose span and field filters brought a regex engine: 210 KB of pyk's code and 220 of
/// the relocations the loader applies at every start.
pub fn init(verbose: u8) -> Result<()> {
    let filter: Targets = match env::var(EnvVars::PYK_LOG) {
        // The parser's message already holds its cause: told once.
        Ok(spec) if !spec.trim().is_empty() => spec
            .parse()
            .map_err(|e| anyhow!("{}={spec:?} is not a log filter: {e}", EnvVars::PYK_LOG))?,
        Err(VarError::NotUnicode(spec)) => {
            bail!("{}={spec:?} is not a log filter", EnvVars::PYK_LOG)
        }
        _ => match verbose {
            0 => return Ok(()),
            1 => Targets::new().with_default(LevelFilter::DEBUG),
            _ => Targets::new().with_default(LevelFilter::TRACE),
        },
    };
    let print = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_timer(uptime());
    tracing_subscriber::registry()
        .with(filter)
        .with(print)
        .try_init()
        .map_err(|e| anyhow!("cannot start logging: {e}"))
}
