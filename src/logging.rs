//! `-v` and `PYK_LOG`: debug logging on stderr through `tracing`, as uv has. The libraries
//! emit the events (each request with its status and time, each cache entry used or
//! filled, each lock waited on, why a fallback fired); only the binary installs a
//! subscriber, and only when asked: with none, an event costs one load of a global level,
//! so a warm `pyk foo` pays nothing for them.

use std::env::{self, VarError};

use anyhow::{anyhow, bail, Result};
use pyk_static::EnvVars;
use tracing_subscriber::fmt::time::uptime;
use tracing_subscriber::EnvFilter;

/// Logs what `PYK_LOG` (a filter: `debug`, `pyk_cache=trace`) asks for, else what
/// `verbose` does (`-v`: debug, `-vv`: trace); nothing when neither asks.
pub fn init(verbose: u8) -> Result<()> {
    let filter = match env::var(EnvVars::PYK_LOG) {
        // The parser's message already holds its cause: told once.
        Ok(spec) if !spec.trim().is_empty() => EnvFilter::try_new(&spec)
            .map_err(|e| anyhow!("{}={spec:?} is not a log filter: {e}", EnvVars::PYK_LOG))?,
        Err(VarError::NotUnicode(spec)) => {
            bail!("{}={spec:?} is not a log filter", EnvVars::PYK_LOG)
        }
        _ => match verbose {
            0 => return Ok(()),
            1 => EnvFilter::new("debug"),
            _ => EnvFilter::new("trace"),
        },
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_timer(uptime())
        .try_init()
        .map_err(|e| anyhow!("cannot start logging: {e}"))
}
