//! Retention: which versions of a package a policy lets go. A pure decision over a
//! package's version list, so that every store (and a dry run) decides alike; the
//! store then deletes the versions (never `latest`) and garbage collection takes the
//! blobs no version left references.

use std::collections::BTreeMap;

use pyk_protocol::api::{GcVersion, VersionList};
use pyk_protocol::Kind;

use crate::Registry;

/// What one package keeps. A version is kept when ANY rule keeps it: it is the
/// latest, it is among the last `keep_last` published, or it was published at or
/// after `keep_since` (a date) or within `keep_newer_than` seconds. A policy with no
/// rule keeps everything.
///
/// Each rule also has a window, and a version made latest within it (a rollback, or
/// a release since superseded) is kept too, whenever it was published: the window of
/// `keep_since` and `keep_newer_than` starts at their date, and that of `keep_last`
/// at the publish of the oldest version it keeps (while the newest `keep_last` were
/// published). A version whose store never recorded a promotion counts as never
/// promoted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Policy {
    pub keep_last: Option<u64>,
    /// An age, in seconds.
    pub keep_newer_than: Option<u64>,
    /// A date, in Unix seconds.
    pub keep_since: Option<u64>,
}

/// A repository's policy: one for every package, and overrides by package.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Retention {
    pub default: Option<Policy>,
    pub packages: BTreeMap<(Kind, String), Policy>,
}

impl Retention {
    /// The policy `kind`/`name` is held to, if any.
    pub fn policy(&self, kind: Kind, name: &str) -> Option<&Policy> {
        self.packages
            .get(&(kind, name.to_owned()))
            .or(self.default.as_ref())
    }

    /// Every version of `registry` this retention lets go at `now`, package by package
    /// in publish order: what a server's `POST /v1/gc` and a serverless `pyk gc` then
    /// delete (or, dry, list).
    pub fn plan<E>(&self, registry: &dyn Registry<E>, now: u64) -> Result<Vec<GcVersion>, E> {
        let mut plan = Vec::new();
        for (kind, name) in registry.packages()? {
            let Some(policy) = self.policy(kind, &name) else {
                continue;
            };
            let Some(list) = registry.versions(kind, &name)? else {
                continue;
            };
            for version in policy.doomed(&list, now) {
                plan.push(GcVersion {
                    kind,
                    name: name.clone(),
                    version,
                });
            }
        }
        Ok(plan)
    }
}

impl Policy {
    /// The versions of `list` this policy lets go at `now` (Unix seconds), oldest
    /// first. `latest` is never among them.
    pub fn doomed(&self, list: &VersionList, now: u64) -> Vec<String> {
        if self.keep_last.is_none() && self.keep_newer_than.is_none() && self.keep_since.is_none() {
            return Vec::new();
        }
        let cutoff = [
            self.keep_since,
            self.keep_newer_than.map(|age| now.saturating_sub(age)),
        ]
        .into_iter()
        .flatten()
        .min();
        let recent = match self.keep_last {
            Some(n) => list
                .versions
                .len()
                .saturating_sub(n.try_into().unwrap_or(usize::MAX)),
            None => list.versions.len(),
        };
        // When keep_last's window opened: the publish of the oldest version it keeps
        // (with nothing older, it lets nothing go anyway).
        let window = match self.keep_last {
            Some(_) => list.versions.get(recent).map(|v| v.published),
            None => None,
        };
        let promoted_since = [cutoff, window].into_iter().flatten().min();
        list.versions
            .iter()
            .enumerate()
            .filter(|(i, v)| {
                *i < recent
                    && list.latest.as_deref() != Some(v.version.as_str())
                    && cutoff.is_none_or(|c| v.published < c)
                    && promoted_since.is_none_or(|c| v.promoted.is_none_or(|at| at < c))
            })
            .map(|(_, v)| v.version.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use pyk_protocol::api::VersionInfo;

    use super::*;

    fn list(published: &[u64], latest: &str) -> VersionList {
        VersionList {
            latest: Some(latest.to_owned()),
            localname: None,
            versions: published
                .iter()
                .enumerate()
                .map(|(i, &at)| VersionInfo {
                    version: (i + 1).to_string(),
                    published: at,
                    publisher: "ci".into(),
                    size: 1,
                    yanked: false,
                    artifact_sha256: "ab".repeat(32),
                    format: "pyk".into(),
                    signed_by: None,
                    platforms: Vec::new(),
                    promoted: None,
                })
                .collect(),
        }
    }

    #[test]
    fn last_n_keeps_the_newest_and_latest() {
        let six = list(&[10, 20, 30, 40, 50, 60], "2");
        let last3 = Policy {
            keep_last: Some(3),
            ..Policy::default()
        };
        assert_eq!(last3.doomed(&six, 100), ["1", "3"]);
        assert!(Policy::default().doomed(&six, 100).is_empty());
        let last9 = Policy {
            keep_last: Some(9),
            ..Policy::default()
        };
        assert!(last9.doomed(&six, 100).is_empty());
    }

    #[test]
    fn any_rule_keeps_a_version() {
        let six = list(&[10, 20, 30, 40, 50, 60], "6");
        let age = Policy {
            keep_newer_than: Some(55),
            ..Policy::default()
        };
        // now 100: kept if published at or after 45.
        assert_eq!(age.doomed(&six, 100), ["1", "2", "3", "4"]);
        let both = Policy {
            keep_last: Some(1),
            keep_since: Some(35),
            ..Policy::default()
        };
        assert_eq!(both.doomed(&six, 100), ["1", "2", "3"]);
    }

    #[test]
    fn a_version_promoted_within_the_window_is_kept() {
        // 2 was latest at 45 (a rollback), 1 at 15; 6 is latest now.
        let mut six = list(&[10, 20, 30, 40, 50, 60], "6");
        six.versions[0].promoted = Some(15);
        six.versions[1].promoted = Some(45);
        let last3 = Policy {
            keep_last: Some(3),
            ..Policy::default()
        };
        // keep_last 3's window opened when 4 was published, at 40.
        assert_eq!(last3.doomed(&six, 100), ["1", "3"]);
        six.versions[1].promoted = Some(39);
        assert_eq!(last3.doomed(&six, 100), ["1", "2", "3"]);
        // A date's window: promoted at or after it.
        let since = Policy {
            keep_since: Some(15),
            ..Policy::default()
        };
        assert_eq!(since.doomed(&six, 100), [] as [&str; 0]);
        let age = Policy {
            keep_newer_than: Some(80),
            ..Policy::default()
        };
        // now 100: the window opened at 20; 1 was promoted before it.
        assert_eq!(age.doomed(&six, 100), ["1"]);
        // A store that never recorded promotions: as before.
        for v in &mut six.versions {
            v.promoted = None;
        }
        assert_eq!(last3.doomed(&six, 100), ["1", "2", "3"]);
    }

    #[test]
    fn overrides_win_over_the_default() {
        let mut r = Retention {
            default: Some(Policy {
                keep_last: Some(3),
                ..Policy::default()
            }),
            ..Retention::default()
        };
        let ten = Policy {
            keep_last: Some(10),
            ..Policy::default()
        };
        r.packages.insert((Kind::Run, "app".into()), ten);
        assert_eq!(r.policy(Kind::Run, "app"), Some(&ten));
        assert_eq!(r.policy(Kind::Lib, "app").unwrap().keep_last, Some(3));
    }
}
