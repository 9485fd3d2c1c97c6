//! `pyk versions NAME`: a package's versions, which one is latest, who signed each.

use anyhow::Result;
use pyk_protocol::{Kind, PackageRef};

use super::list::age;
use super::Context;
use crate::output::human_size;
use crate::repo::client;

pub fn run(ctx: &Context, kind: Kind, name: &str, json: bool) -> Result<()> {
    let list = client(ctx.config)?.versions(&PackageRef::new(kind, name)?)?;
    if json {
        let versions: Vec<_> = list
            .versions
            .iter()
            .map(|v| {
                serde_json::json!({
                    "version": v.version,
                    "latest": list.latest.as_deref() == Some(v.version.as_str()),
                    "published": v.published,
                    "publisher": v.publisher,
                    "size": v.size,
                    "yanked": v.yanked,
                    "artifact_sha256": v.artifact_sha256,
                    "content": v.format,
                    "signed_by": v.signed_by,
                    "promoted": v.promoted,
                })
            })
            .collect();
        return crate::json::print(serde_json::json!({
            "kind": kind.as_str(),
            "name": name,
            "localname": list.localname,
            "latest": list.latest,
            "versions": versions,
        }));
    }
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
        let platforms = match v.platforms.is_empty() {
            true => String::new(),
            false => format!("  {}", v.platforms.join(", ")),
        };
        println!(
            "{mark} {:<16} {:<14} {:>10}  {} ({signed}){yanked}{platforms}",
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
