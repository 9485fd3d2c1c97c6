//! `pyk list`: every package on the repository, with its latest version, size and age.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Result;

use super::Context;
use crate::output::human_size;
use crate::repo::client;

pub fn run(ctx: &Context, json: bool) -> Result<()> {
    let packages = client(ctx.config)?.list()?;
    if json {
        let packages: Vec<_> = packages
            .iter()
            .map(|p| {
                serde_json::json!({
                    "kind": p.kind,
                    "name": p.name,
                    "latest": (!p.version.is_empty()).then_some(&p.version),
                    "size": p.size,
                    "published": p.published,
                })
            })
            .collect();
        return crate::json::print(serde_json::json!({
            "server": ctx.config.server()?,
            "packages": packages,
        }));
    }
    if packages.is_empty() {
        println!("no packages on {}", ctx.config.server()?);
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

pub(super) fn age(unix: u64) -> String {
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
