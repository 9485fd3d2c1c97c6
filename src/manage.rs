//! Looking after what the repository holds: `pyk list`, `versions`, `promote`, `yank`,
//! `remove`, `init`, `watch`; and what this machine remembers of it: `pyk trust reset`.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Result};
use pyk_client::Client;
use pyk_protocol::api::VersionList;
use pyk_protocol::names::check_version;
use pyk_protocol::{Kind, PackageRef};

use crate::config::Config;
use crate::output::{human_size, status};
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
    status!("{kind} {name}: latest is now version {}", m.version);
    Ok(())
}

pub fn yank(
    config: &Config,
    kind: Kind,
    name: &str,
    version: &str,
    undo: bool,
    force: bool,
) -> Result<()> {
    let package = PackageRef::new(kind, name)?;
    check_version(version)?;
    let client = writer(config)?;
    let before = client.versions(&package)?;
    if !undo {
        refuse_unpromoted(&before, &package, version, "yanking", force)?;
    }
    client.yank(&package, version, !undo)?;
    status!(
        "{kind} {name} version {version} {}",
        if undo {
            "is eligible for latest again (`pyk promote` makes it latest)"
        } else {
            "is yanked (`pyk yank --undo` takes that back)"
        }
    );
    report_latest(&client, &package, before.latest.as_deref())
}

pub fn remove(
    config: &Config,
    kind: Kind,
    name: &str,
    version: Option<&str>,
    force: bool,
    yes: bool,
) -> Result<()> {
    let package = PackageRef::new(kind, name)?;
    if version.is_none() && !yes {
        confirm_removal(kind, name)?;
    }
    let client = writer(config)?;
    match version {
        Some(v) => {
            check_version(v)?;
            let before = client.versions(&package)?;
            if !force {
                if let Some(target) = moves_latest(&before, v) {
                    bail!(
                        "version {v} is the latest of {kind} {name}: deleting it moves latest to \
                         {}; pass --force to do that, or `pyk promote` another version first",
                        describe(target)
                    );
                }
            }
            client.remove_version(&package, v, force)?;
            status!("removed version {v} of {kind} package {name}");
            report_latest(&client, &package, before.latest.as_deref())?;
        }
        None => {
            client.remove(&package)?;
            status!("removed {kind} package {name}");
        }
    }
    Ok(())
}

/// Asks on the terminal before a whole package is deleted; without a terminal, refuses
/// unless `--yes` said so.
fn confirm_removal(kind: Kind, name: &str) -> Result<()> {
    use std::io::{BufRead, IsTerminal, Write};
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        bail!(
            "removing {kind} {name} deletes every version of it: pass --yes to do that \
             without a terminal to ask on (or --version V to delete one)"
        );
    }
    eprint!("pyk: delete every version of {kind} {name}? [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer)?;
    if !matches!(answer.trim(), "y" | "Y" | "yes") {
        bail!("{kind} {name} left as it was");
    }
    Ok(())
}

/// Where `latest` goes when `leaving` stops being eligible, if it is the latest (the
/// server's rule: the newest other version in publish order that is not yanked): `Some(None)`
/// when nothing is left. With the target, whether it was published after `leaving`, which
/// means it was never made latest (uploaded with --no-promote, or rolled back from).
fn moves_latest<'a>(list: &'a VersionList, leaving: &str) -> Option<Option<(&'a str, bool)>> {
    if list.latest.as_deref() != Some(leaving) {
        return None;
    }
    let at = list.versions.iter().position(|v| v.version == leaving);
    Some(
        list.versions
            .iter()
            .enumerate()
            .rev()
            .find(|(_, v)| !v.yanked && v.version != leaving)
            .map(|(i, v)| (v.version.as_str(), at.is_some_and(|at| i > at))),
    )
}

fn describe(target: Option<(&str, bool)>) -> String {
    match target {
        None => "nothing (no other version is eligible)".into(),
        Some((v, false)) => format!("version {v}"),
        Some((v, true)) => format!(
            "version {v}, which was never made latest (uploaded with --no-promote, or rolled \
             back from)"
        ),
    }
}

/// A yank that would make a never-promoted version latest needs `--force`.
fn refuse_unpromoted(
    list: &VersionList,
    package: &PackageRef,
    leaving: &str,
    doing: &str,
    force: bool,
) -> Result<()> {
    if let Some(target @ Some((_, true))) = moves_latest(list, leaving) {
        if !force {
            bail!(
                "version {leaving} is the latest of {} {}: {doing} it would move latest to {}; \
                 pass --force to do that, or `pyk promote` the version you want first",
                package.kind(),
                package.name(),
                describe(target)
            );
        }
    }
    Ok(())
}

/// Says where `latest` went, if a change moved it.
fn report_latest(client: &Client, package: &PackageRef, before: Option<&str>) -> Result<()> {
    let after = client.versions(package)?.latest;
    if after.as_deref() != before {
        let (kind, name) = (package.kind(), package.name());
        match after {
            Some(v) => status!("{kind} {name}: latest moved to version {v}"),
            None => status!(
                "{kind} {name}: nothing is latest now, so `pyk {name}` has nothing to run \
                 (`pyk promote` a version)"
            ),
        }
    }
    Ok(())
}

/// `pyk trust reset NAME`: forgets the newest `latest` this machine accepted for the
/// package (see `pyk_client::Trust::forget`).
pub fn trust_reset(
    config: &Config,
    cache: &pyk_cache::Cache,
    kind: Kind,
    name: &str,
) -> Result<()> {
    let package = PackageRef::new(kind, name)?;
    let trust = config.trust(cache.root())?;
    if let Some(key) = trust.unpin(&package)? {
        status!(
            "forgot the key {kind} {name} was pinned to ({key}): the next signed version pins anew"
        );
    }
    match trust.forget(&package)? {
        Some((issued, version)) => status!(
            "forgot the latest of {kind} {name} this machine had accepted (version {version}, \
             issued {issued} ms): the next signed one is taken as on a fresh machine"
        ),
        None => status!("this machine remembers no latest of {kind} {name}"),
    }
    Ok(())
}

/// `pyk trust NAME KEY`: pins `name` to `key`, as after a publisher changed keys.
pub fn trust_key(
    config: &Config,
    cache: &pyk_cache::Cache,
    kind: Kind,
    name: &str,
    key: &str,
) -> Result<()> {
    let package = PackageRef::new(kind, name)?;
    let key = pyk_crypto::sign::PublicKey::parse(key)?;
    match config.trust(cache.root())?.pin(&package, &key)? {
        Some(before) if before == key => status!("{kind} {name} is already pinned to {key}"),
        Some(before) => status!("{kind} {name} is pinned to {key} (was {before})"),
        None => status!("{kind} {name} is pinned to {key}"),
    }
    Ok(())
}

pub fn init(config: &Config, kind: Kind, name: &str, localname: &str) -> Result<()> {
    client(config)?.set_localname(&PackageRef::new(kind, name)?, localname)?;
    status!("{kind} {name} is pulled as {localname}");
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
    if !crate::output::quiet() {
        eprintln!(
            "watching {kind} package {name} on {} (latest: {shown})",
            client.server()
        );
    }
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
