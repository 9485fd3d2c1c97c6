//! The retention file a server is given (`pyk serve --retention FILE`), or a serverless
//! `pyk gc --retention FILE`: TOML, read once at start. Which versions it lets go is
//! `pyk_registry::Retention`'s decision.
//!
//! ```toml
//! keep_last = 3                # the newest 3 of every package, and
//! keep_newer_than = "30d"      # whatever is younger than that, and
//! keep_since = "2026-11-01"    # whatever was published on or after that date
//! blob_grace = "1h"            # unreferenced blobs younger than this survive gc
//!
//! [packages."run/app"]         # a package's own rules replace the ones above
//! keep_last = 10
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context};
use pyk_protocol::Kind;
use pyk_registry::{Policy, Retention};
use serde::Deserialize;

use crate::limits::GC_GRACE;

/// What `POST /v1/gc` applies.
#[derive(Debug, Clone)]
pub struct GcSettings {
    pub retention: Retention,
    /// Unreferenced blobs younger than this survive: a publish uploads its blobs before
    /// it posts the manifest naming them.
    pub blob_grace: Duration,
}

impl Default for GcSettings {
    fn default() -> GcSettings {
        GcSettings {
            retention: Retention::default(),
            blob_grace: GC_GRACE,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(flatten)]
    rules: Rules,
    blob_grace: Option<String>,
    #[serde(default)]
    packages: BTreeMap<String, Rules>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Rules {
    keep_last: Option<u64>,
    keep_newer_than: Option<String>,
    keep_since: Option<String>,
}

impl Rules {
    fn policy(&self) -> anyhow::Result<Option<Policy>> {
        if self.keep_last.is_none() && self.keep_newer_than.is_none() && self.keep_since.is_none() {
            return Ok(None);
        }
        let keep_newer_than = match &self.keep_newer_than {
            Some(age) => Some(
                humantime::parse_duration(age)
                    .with_context(|| format!("keep_newer_than {age:?} is not an age like \"30d\""))?
                    .as_secs(),
            ),
            None => None,
        };
        let keep_since = match &self.keep_since {
            Some(date) => Some(parse_date(date)?),
            None => None,
        };
        if self.keep_last == Some(0) {
            bail!("keep_last must be at least 1 (latest is always kept besides)");
        }
        Ok(Some(Policy {
            keep_last: self.keep_last,
            keep_newer_than,
            keep_since,
        }))
    }
}

/// `2026-11-01` or `2026-11-01T12:00:00Z`, in Unix seconds.
fn parse_date(text: &str) -> anyhow::Result<u64> {
    let full = if text.len() == 10 {
        format!("{text}T00:00:00Z")
    } else {
        text.to_owned()
    };
    let at = humantime::parse_rfc3339_weak(&full)
        .with_context(|| format!("keep_since {text:?} is not a date like \"2026-11-01\""))?;
    Ok(at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()))
}

/// Reads a retention file (`pyk serve --retention`, `pyk gc --retention`); what is
/// wrong with it is one line naming the file.
pub fn read(path: &Path) -> anyhow::Result<GcSettings> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse(&text).with_context(|| format!("in {}", path.display()))
}

/// Reads a retention file's text.
pub fn parse(text: &str) -> anyhow::Result<GcSettings> {
    // TOML's own message draws the line it failed on below it: kept to one line here.
    let file: File = toml::from_str(text).map_err(|e| {
        let line = e.span().map_or(0, |s| {
            text[..s.start.min(text.len())].lines().count().max(1)
        });
        anyhow!("line {line}: {}", e.message().trim().replace('\n', " "))
    })?;
    let mut retention = Retention {
        default: file.rules.policy()?,
        ..Retention::default()
    };
    for (package, rules) in &file.packages {
        let (kind, name) = package
            .split_once('/')
            .and_then(|(k, n)| Some((k.parse::<Kind>().ok()?, n)))
            .filter(|(_, n)| pyk_protocol::valid_name(n))
            .with_context(|| format!("package {package:?} is not like \"run/app\""))?;
        let policy = rules.policy()?.unwrap_or_default();
        retention.packages.insert((kind, name.to_owned()), policy);
    }
    let blob_grace = match &file.blob_grace {
        Some(g) => humantime::parse_duration(g)
            .with_context(|| format!("blob_grace {g:?} is not a duration like \"1h\""))?,
        None => GC_GRACE,
    };
    Ok(GcSettings {
        retention,
        blob_grace,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rules_overrides_and_refuses_nonsense() {
        let s = parse(
            "keep_last = 3\nkeep_newer_than = \"2d\"\nblob_grace = \"0s\"\n\
             [packages.\"run/app\"]\nkeep_since = \"2026-11-01\"\n",
        )
        .unwrap();
        assert_eq!(s.blob_grace, Duration::ZERO);
        let d = s.retention.default.unwrap();
        assert_eq!((d.keep_last, d.keep_newer_than), (Some(3), Some(172_800)));
        let app = s.retention.policy(Kind::Run, "app").unwrap();
        assert_eq!(app.keep_since, Some(1_793_491_200));
        assert_eq!(app.keep_last, None);
        for bad in [
            "keep_last = 0",
            "keep_newer_than = \"soon\"",
            "keep = 3",
            "[packages.\"app\"]\nkeep_last = 1",
            "[packages.\"run/a b\"]\nkeep_last = 1",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
