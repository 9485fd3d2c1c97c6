//! Where `latest` goes when a yank or a removal takes a version away: the rule that
//! `pyk yank` and `pyk remove` check before acting and report after.

use anyhow::{bail, Result};
use pyk_client::Client;
use pyk_protocol::api::VersionList;
use pyk_protocol::PackageRef;

use crate::output::status;

/// Where `latest` goes when `leaving` stops being eligible, if it is the latest (the
/// server's rule: the newest other version in publish order that is not yanked): `Some(None)`
/// when nothing is left. With the target, whether it was published after `leaving`, which
/// means it was never made latest (uploaded with --no-promote, or rolled back from).
pub(super) fn moves_latest<'a>(
    list: &'a VersionList,
    leaving: &str,
) -> Option<Option<(&'a str, bool)>> {
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

pub(super) fn describe(target: Option<(&str, bool)>) -> String {
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
pub(super) fn refuse_unpromoted(
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
pub(super) fn report_latest(
    client: &Client,
    package: &PackageRef,
    before: Option<&str>,
) -> Result<()> {
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
