//! Looking after what the repository holds: `pyk list`, `versions`, `promote`, `yank`,
//! `remove`, `init`, `watch`.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Result};

use crate::build::human_size;
use crate::client::ClientError;
use crate::config::Config;
use crate::publish::client;
use crate::runner::parse_spec;

pub fn list(config: &Config) -> Result<()> {
    let packages = client(config)?.list()?;
    if packages.is_empty() {
        println!("no packages on {}", config.server()?);
    }
    for p in packages {
        let version = if p.version.is_empty() {
            "-"
        } else {
            &p.version
        };
        println!(
            "{:<4} {:<24} {:>10}  {:>10}  {}",
            p.kind,
            p.name,
            version,
            human_size(p.size),
            age(p.published)
        );
    }
    Ok(())
}

pub fn versions(config: &Config, kind: &str, name: &str) -> Result<()> {
    parse_spec(name)?;
    let list = client(config)?.versions(kind, name)?;
    if let Some(local) = &list.localname {
        println!("{kind} {name} (pulled as {local})");
    }
    for v in &list.versions {
        let mark = if list.latest.as_deref() == Some(v.version.as_str()) {
            "*"
        } else {
            " "
        };
        let yanked = if v.yanked { "  yanked" } else { "" };
        println!(
            "{mark} {:<16} {:<14} {:>10}  {}{yanked}",
            v.version,
            age(v.published),
            human_size(v.size),
            v.publisher
        );
    }
    if list.versions.is_empty() {
        println!("{kind} {name} has no versions");
    }
    Ok(())
}

pub fn promote(config: &Config, kind: &str, name: &str, version: &str) -> Result<()> {
    parse_spec(&format!("{name}@{version}"))?;
    let m = client(config)?.promote(kind, name, version)?;
    println!("{kind} {name}: latest is now version {}", m.version);
    Ok(())
}

pub fn yank(config: &Config, kind: &str, name: &str, version: &str, undo: bool) -> Result<()> {
    parse_spec(&format!("{name}@{version}"))?;
    client(config)?.yank(kind, name, version, !undo)?;
    println!(
        "{kind} {name} version {version} {}",
        if undo {
            "is eligible for latest again"
        } else {
            "is yanked"
        }
    );
    Ok(())
}

pub fn remove(
    config: &Config,
    kind: &str,
    name: &str,
    version: Option<&str>,
    force: bool,
) -> Result<()> {
    parse_spec(name)?;
    let client = client(config)?;
    match version {
        Some(v) => {
            parse_spec(&format!("{name}@{v}"))?;
            client.remove_version(kind, name, v, force)?;
            println!("removed version {v} of {kind} package {name}");
        }
        None => {
            client.remove(kind, name)?;
            println!("removed {kind} package {name}");
        }
    }
    Ok(())
}

pub fn init(config: &Config, kind: &str, name: &str, localname: &str) -> Result<()> {
    parse_spec(name)?;
    client(config)?.set_localname(kind, name, localname)?;
    println!("{kind} {name} is pulled as {localname}");
    Ok(())
}

pub fn watch(config: &Config, kind: &str, name: &str, once: bool) -> Result<()> {
    parse_spec(name)?;
    let client = client(config)?;
    let mut current = match client.current(kind, name, None) {
        Ok(Some(m)) => m.version,
        Ok(None) => bail!("the server answered 304 to an unconditional request"),
        Err(ClientError::NotFound(_)) => String::new(),
        Err(e) => return Err(e.into()),
    };
    let shown = if current.is_empty() { "none" } else { &current };
    eprintln!(
        "watching {kind} package {name} on {} (latest: {shown})",
        client.server()
    );
    loop {
        if let Some(m) = client.watch(kind, name, &current, 60)? {
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

fn age(unix: u64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    match now.saturating_sub(unix) {
        s if s < 120 => "just now".into(),
        s if s < 7200 => format!("{} min ago", s / 60),
        s if s < 172_800 => format!("{} h ago", s / 3600),
        s => format!("{} days ago", s / 86_400),
    }
}
