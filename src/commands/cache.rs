//! `pyk cache dir | list | size | prune | clean`, over the user's cache roots (the main one
//! and the private `$TMPDIR/pyk-<uid>` fallback the launcher uses when the main one is
//! unusable), and `pyk cache seed`, which fills an administrator's shared cache.

use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use pyk_cache::{Cache, Removal, RootEnv, Select};
use pyk_client::Packages;
use pyk_protocol::Kind;

use super::Context as Ctx;
use crate::cli::CacheCommand;
use crate::fetch;
use crate::output::{human_size, status};

pub fn run(ctx: &Ctx, cmd: CacheCommand) -> Result<()> {
    if matches!(cmd, CacheCommand::List { .. }) {
        crate::output::end_quietly_on_closed_pipe();
    }
    let env = ctx.root_env()?;
    match cmd {
        CacheCommand::Dir => {
            println!("{}", env.open()?.root().display());
            match env.shared() {
                Some(Ok(shared)) => println!("{} (shared, looked up first)", shared.display()),
                Some(Err(e)) => status!("{e}"),
                None => {}
            }
        }
        CacheCommand::Seed { dir, what, lib } => seed(ctx, &dir, &what, lib)?,
        CacheCommand::List { json: true } => {
            let caches: Vec<_> = env.existing().iter().map(entries).collect::<Result<_>>()?;
            crate::json::print(serde_json::json!({ "caches": caches }))?;
        }
        CacheCommand::List { json: false } => {
            for cache in env.existing() {
                list(&cache)?;
            }
        }
        CacheCommand::Size => {
            let mut total = 0;
            for cache in env.existing() {
                let size: u64 = cache.entries()?.iter().map(|e| e.size).sum();
                println!("{}  {}", human_size(size), cache.root().display());
                total += size;
            }
            println!("{}  total", human_size(total));
        }
        CacheCommand::Prune {
            older_than,
            max_size,
        } => {
            let older_than = older_than
                .map(|d| {
                    humantime::parse_duration(&d).with_context(|| {
                        format!("--older-than {d:?}: expected a duration such as 30d or 12h")
                    })
                })
                .transpose()?;
            let max_size = max_size
                .map(|s| {
                    s.parse::<bytesize::ByteSize>()
                        .map(|b| b.as_u64())
                        .map_err(|e| anyhow::anyhow!("--max-size {s:?}: {e}"))
                })
                .transpose()?;
            let select = Select {
                older_than: older_than
                    .or(max_size.is_none().then(|| Duration::from_secs(30 * 86_400))),
                max_size,
            };
            for cache in env.existing() {
                report("pruned", &cache, cache.prune(&select)?);
            }
        }
        CacheCommand::Clean => {
            for cache in env.existing() {
                report("cleaned", &cache, cache.clean()?);
            }
        }
    }
    Ok(())
}

/// Unpacks artifact files, and fetches packages through the repository, into the shared
/// cache `dir`, readable by every user.
fn seed(ctx: &Ctx, dir: &Path, what: &[String], lib: bool) -> Result<()> {
    let seeding = ctx.with_cache(RootEnv::seed_root(dir)?);
    let cache = seeding.cache()?;
    let kind = if lib { Kind::Lib } else { Kind::Run };
    for item in what {
        let path = Path::new(item);
        if path.exists() || item.contains('/') {
            let trailer = Packages::new(cache)
                .seed_artifact(path)
                .with_context(|| format!("cannot seed {}", path.display()))?;
            status!(
                "seeded {} ({}) into {}",
                path.display(),
                trailer.name,
                dir.display()
            );
        } else {
            let resolved = fetch::resolve(&seeding, kind, item, None)?;
            let m = &resolved.manifest;
            status!(
                "seeded {kind} {} version {} into {}",
                m.name,
                m.version,
                dir.display()
            );
        }
    }
    Ok(())
}

fn list(cache: &Cache) -> Result<()> {
    println!("{}", cache.root().display());
    let now = SystemTime::now();
    for entry in cache.entries()? {
        let days = now
            .duration_since(entry.last_use)
            .unwrap_or_default()
            .as_secs()
            / 86_400;
        let used = match days {
            0 => "today".to_owned(),
            1 => "1 day ago".to_owned(),
            d => format!("{d} days ago"),
        };
        println!(
            "  {:<13} {:<24} {:>10}  {}{}",
            entry.bucket.dir_name(),
            short(&entry.key),
            human_size(entry.size),
            used,
            if cache.in_use(&entry) { ", in use" } else { "" }
        );
    }
    Ok(())
}

/// One cache root and its entries, as `pyk cache list --json` prints them.
fn entries(cache: &Cache) -> Result<serde_json::Value> {
    let entries: Vec<_> = cache
        .entries()?
        .iter()
        .map(|entry| {
            serde_json::json!({
                "bucket": entry.bucket.dir_name(),
                "key": entry.key,
                "size": entry.size,
                "files": entry.files,
                "last_use": crate::json::unix(entry.last_use),
                "in_use": cache.in_use(entry),
            })
        })
        .collect();
    Ok(serde_json::json!({
        "root": cache.root(),
        "entries": entries,
    }))
}

/// Content hashes are shown by their first 12 digits, like `pyk runtime list`.
fn short(key: &str) -> &str {
    if key.len() == 64 {
        &key[..12]
    } else {
        key
    }
}

fn report(what: &str, cache: &Cache, removal: Removal) {
    status!(
        "{what} {}: removed {} entr{} ({}){}",
        cache.root().display(),
        removal.entries,
        if removal.entries == 1 { "y" } else { "ies" },
        human_size(removal.bytes),
        if removal.in_use > 0 {
            format!(", kept {} in use", removal.in_use)
        } else {
            String::new()
        }
    );
}
