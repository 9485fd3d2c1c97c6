//! A bare entry point to the server, for the integration tests (which need a real
//! process to signal and kill) and for running a repository without the full CLI:
//!
//! `PYK_KEY=… [PYK_WRITE_KEY=…] [PYK_MAX_UPLOAD=bytes] pyk-server [-v] [--metrics-addr=ADDR] [STORE [ADDR]]`
//!
//! STORE is a directory, or `s3://bucket/prefix` reached through AWS's usual variables
//! (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, …; see `pyk_s3::Settings::from_vars`);
//! `PYK_RETENTION=FILE` names the retention file `POST /v1/gc` applies;
//! `PYK_S3_MODE=lease` makes writers take leases even where conditional writes work.

use anyhow::{bail, Context};
use pyk_crypto::Key;
use pyk_s3::repo::{Mode, ModeSetting};
use pyk_s3::{Location, Settings};
use pyk_server::store::StoreConfig;
use pyk_server::{serve, ServeConfig};
use pyk_static::EnvVars;

fn main() -> anyhow::Result<()> {
    let key = std::env::var(EnvVars::PYK_KEY)
        .context("PYK_KEY must hold the repository key or passphrase")?;
    let mut config = ServeConfig::new(Key::from_config(&key));
    if let Ok(write) = std::env::var(EnvVars::PYK_WRITE_KEY) {
        config.write_key = Key::from_config(&write);
    }
    if let Ok(max) = std::env::var(EnvVars::PYK_MAX_UPLOAD) {
        config.max_upload = max
            .parse()
            .context("PYK_MAX_UPLOAD must be a number of bytes")?;
    }
    if let Ok(file) = std::env::var("PYK_RETENTION") {
        let text = std::fs::read_to_string(&file).with_context(|| format!("reading {file}"))?;
        config.gc = pyk_server::retention::parse(&text).with_context(|| format!("in {file}"))?;
    }
    let mut positional = Vec::new();
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "-v" | "--verbose" => config.verbose = true,
            a if a.starts_with("--metrics-addr=") => {
                let addr = &a["--metrics-addr=".len()..];
                config.metrics_addr = Some(
                    addr.parse()
                        .with_context(|| format!("bad metrics address {addr}"))?,
                );
            }
            a if a.starts_with('-') => bail!("unknown option {a}"),
            _ => positional.push(arg),
        }
    }
    let mut positional = positional.into_iter();
    if let Some(store) = positional.next() {
        config.store = match Location::parse(&store) {
            Some(location) => {
                let location = location?;
                StoreConfig::S3 {
                    settings: Settings::from_vars(&location.bucket, |v| std::env::var(v).ok()),
                    location,
                    mode: match std::env::var(EnvVars::PYK_S3_MODE).as_deref() {
                        Ok("lease") => ModeSetting::Force(Mode::Lease),
                        _ => ModeSetting::Probe,
                    },
                }
            }
            None => StoreConfig::Embedded { path: store.into() },
        };
    }
    if let Some(addr) = positional.next() {
        config.addr = addr
            .parse()
            .with_context(|| format!("bad address {addr}"))?;
    }
    if positional.next().is_some() {
        bail!("usage: pyk-server [-v] [STORE [ADDR]]");
    }
    serve(config)
}
