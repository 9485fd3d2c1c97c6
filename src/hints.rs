//! What turns an error into one that says what to do: the command a typo meant, the other
//! kind of package under the same name, plain HTTP where `https://` was configured.

use std::time::Duration;

use pyk_protocol::{Kind, PackageRef};

use crate::config::Config;
use crate::repo::client;

/// The visible subcommand `word` is likely a typo of (`biuld` → `build`), as cargo and git
/// suggest: at most two edits, and no more than a third of the command's length, so a
/// short package name is not taken for a command.
pub fn closest_command(cli: &clap::Command, word: &str) -> Option<String> {
    cli.get_subcommands()
        .filter(|c| !c.is_hide_set())
        .flat_map(|c| std::iter::once(c.get_name()).chain(c.get_all_aliases()))
        .map(|name| (strsim::damerau_levenshtein(word, name), name))
        .filter(|&(d, name)| d > 0 && d <= 2 && d * 3 <= name.len().max(3))
        .min_by_key(|&(d, _)| d)
        .map(|(_, name)| name.to_owned())
}

/// `e` with a hint when it is a "not found" for a package that does not exist while the
/// other kind does under that name (asked of the server; any failure to ask leaves `e` as
/// it is).
///
/// `flag`: whether the command takes `--lib` (`pyk versions` does; `pyk NAME`, `pyk run` and
/// `pyk install` name programs only).
pub fn wrong_kind(
    config: &Config,
    kind: Kind,
    name: &str,
    flag: bool,
    e: anyhow::Error,
) -> anyhow::Error {
    // "no package run/foo", or "run foo has no version 1" when there is no run foo at all
    // (the server answers for the version asked for).
    let missing = e.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<pyk_client::Error>(),
            Some(pyk_client::Error::NotFound { .. })
        )
    });
    if !missing {
        return e;
    }
    let name = name.split_once('@').map_or(name, |(name, _)| name);
    let other = match kind {
        Kind::Run => Kind::Lib,
        Kind::Lib => Kind::Run,
    };
    let (Ok(this), Ok(that), Ok(client)) = (
        PackageRef::new(kind, name),
        PackageRef::new(other, name),
        client(config),
    ) else {
        return e;
    };
    if client.versions(&this).is_ok() || client.versions(&that).is_err() {
        return e;
    }
    let hint = match other {
        Kind::Lib if flag => format!(
            "there is a library {name}: add --lib to name it, and `from pyk import {name}` \
             imports it"
        ),
        Kind::Lib => format!(
            "there is a library {name}, which Python imports (`from pyk import {name}`, after \
             `pyk python-setup`) rather than pyk runs"
        ),
        Kind::Run if flag => format!(
            "there is a program {name}, not a library: leave out --lib to name it, and \
             `pyk {name}` runs it"
        ),
        Kind::Run => format!(
            "there is a program {name}, not a library: `pyk {name}` runs it, and only \
             libraries are imported"
        ),
    };
    Hinted::wrap(e, hint)
}

/// `e` with a hint when the configured server is `https://…` and what answers there
/// speaks plain HTTP (asked with one plain request).
pub fn with_https_hint(config: &Config, e: anyhow::Error) -> anyhow::Error {
    let Ok(server) = config.server() else {
        return e;
    };
    let Some(rest) = server.strip_prefix("https://") else {
        return e;
    };
    let unreachable = e.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<pyk_client::Error>(),
            Some(pyk_client::Error::Unreachable { .. })
        )
    });
    if !unreachable {
        return e;
    }
    let plain = format!("http://{rest}");
    let agent = pyk_net::agent(
        &plain,
        ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(3)))
            .http_status_as_error(false),
    );
    match agent.get(&format!("{plain}/")).call() {
        Ok(_) => Hinted::wrap(
            e,
            format!(
                "{rest} speaks plain HTTP, not HTTPS: set `server = \"{plain}\"` (or put a \
                 TLS proxy in front of `pyk serve`)"
            ),
        ),
        Err(_) => e,
    }
}

/// An error with what to do about it: the error stays its source, so it and its causes
/// remain values (what `exit::code` and the hints read), and [`line`] prints the hint
/// after them.
#[derive(Debug)]
struct Hinted {
    hint: String,
    error: anyhow::Error,
}

impl Hinted {
    fn wrap(error: anyhow::Error, hint: String) -> anyhow::Error {
        anyhow::Error::new(Hinted { hint, error })
    }
}

impl std::fmt::Display for Hinted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.hint)
    }
}

impl std::error::Error for Hinted {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        // The wrapped error itself (its outermost value), not a copy: downcasts still work.
        Some(&*self.error)
    }
}

/// `e` on one line as the user reads it: the error and its causes joined by `: `, then
/// each hint after a `; `.
pub fn line(e: &anyhow::Error) -> String {
    let (hints, causes): (Vec<_>, Vec<_>) = e
        .chain()
        .partition(|cause| cause.downcast_ref::<Hinted>().is_some());
    let mut line = causes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ");
    for hint in hints.iter().rev() {
        line.push_str("; ");
        line.push_str(&hint.to_string());
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_print_after_the_causes_they_keep() {
        let gone = std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        let e = anyhow::Error::new(gone).context("cannot read x");
        let e = Hinted::wrap(Hinted::wrap(e, "first".into()), "second".into());
        assert_eq!(line(&e), "cannot read x: gone; first; second");
        assert!(e
            .chain()
            .any(|c| c.downcast_ref::<std::io::Error>().is_some()));
    }
}
