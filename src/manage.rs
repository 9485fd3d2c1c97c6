//! Looking after what the repository holds: `pyk list`, `versions`, `promote`, `yank`,
//! `remove`, `init`, `watch`.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Result};
use pyk_protocol::names::check_version;
use pyk_protocol::{Kind, PackageRef};

use crate::config::Config;
use crate::output::human_size;
use crate::repo::{client, writer};

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

pub fn versions(config: &Config, kind: Kind, name: &str) -> Result<()> {
    let list = client(config)?.versions(&PackageRef::new(kind, name)?)?;
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
        // The key is what vouches for a version; the node name is only what the
        // publishing machine called itself.
        let signed = v.signed_by.as_deref().map_or_else(
            || "unsigned".to_owned(),
            |k| format!("signed {}…", &k[..k.len().min(24)]),
        );
        println!(
            "{mark} {:<16} {:<14} {:>10}  {} ({signed}){yanked}",
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

pub fn promote(config: &Config, kind: Kind, name: &str, version: &str) -> Result<()> {
    let package = PackageRef::new(kind, name)?;
    check_version(version)?;
    let m = writer(config)?.promote(&package, version)?;
    println!("{kind} {name}: latest is now version {}", m.version);
    Ok(())
}

pub fn yank(config: &Config, kind: Kind, name: &str, version: &str, undo: bool) -> Result<()> {
    let package = PackageRef::new(kind, name)?;
    check_version(version)?;
    writer(config)?.yank(&package, version, !undo)?;
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
    kind: Kind,
    name: &str,
    version: Option<&str>,
    force: bool,
) -> Result<()> {
    let package = PackageRef::new(kind, name)?;
    let client = writer(config)?;
    match version {
        Some(v) => {
            check_version(v)?;
            client.remove_version(&package, v, force)?;
            println!("removed version {v} of {kind} package {name}");
        }
        None => {
            client.remove(&package)?;
            println!("removed {kind} package {name}");
        }
    }
    Ok(())
}

pub fn init(config: &Config, kind: Kind, name: &str, localname: &str) -> Result<()> {
    client(config)?.set_localname(&PackageRef::new(kind, name)?, localname)?;
    println!("{kind} {name} is pulled as {localname}");
    Ok(())
}

pub fn watch(config: &Config, kind: Kind, name: &str, once: bool) -> Result<()> {
    let package = PackageRef::new(kind, name)?;
    let client = client(config)?;
    let mut current = match client.current(&package, None) {
        Ok(Some(m)) => m.version,
        Ok(None) => bail!("the server answered 304 to an unconditional request"),
        Err(pyk_client::Error::NotFound { .. }) => String::new(),
        Err(e) => return Err(e.into()),
    };
    let shown = if current.is_empty() { "none" } else { &current };
    eprintln!(
        "watching {kind} package {name} on {} (latest: {shown})",
        client.server()
    );
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
