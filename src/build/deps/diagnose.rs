//! Turning an installer's failure into one message that names everything refused.
//!
//! uv stops at the first sdist that does not build. To name them all, the install is tried
//! again in a scratch directory with each distribution found so far taken out of the
//! resolution (an override whose marker never holds), until it gets past the builds.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::Command;

use anyhow::{anyhow, Error};

use super::{Installer, Request};

/// At most this many extra installs are tried while collecting build failures.
const MAX_TRIES: usize = 12;

/// The error for a failed install of the third-party dependencies. `retry` runs the same
/// install into another directory with extra arguments.
pub fn install_failure(
    installer: &Installer,
    req: &Request,
    stderr: &str,
    scratch: &Path,
    retry: &dyn Fn(&Path, &Path) -> Command,
) -> Error {
    let said = stderr.trim();
    let name = installer.name();
    let python = format!("{}.{}", req.version.major, req.version.minor);
    if said.contains("Hash mismatch") || said.contains("DO NOT MATCH THE HASHES") {
        return anyhow!(
            "a downloaded file does not match its --hash (hash-checking mode): nothing was installed; if the requirement changed on purpose, update its hash\n{name} said:\n{said}"
        );
    }
    if let Installer::Pip(_) = installer {
        if let Some(missing) = after(said, "No matching distribution found for ") {
            return anyhow!(
                "{missing} has no wheel for Python {python} on Linux x86_64, and pip (the fallback installer) installs wheels only here: install uv (which builds sdists), depend on a version that has one, or put a wheel in [install] find-links\npip said:\n{said}"
            );
        }
    }
    if req.platform.foreign() {
        // `--no-build`: uv names the first distribution with no wheel for the machine.
        if let Some(missing) = between(said, "Because ", " has no usable wheels") {
            return anyhow!(
                "{missing} has no wheel for Python {python} on {}, and pyk does not build sdists for another machine (they would be compiled for this one): depend on a version that ships a manylinux {} wheel, or put one in [install] find-links",
                req.platform.name(),
                req.platform.arch()
            );
        }
    }
    let Some(first) = failed_build(said) else {
        return anyhow!("{name} could not install the dependencies:\n{said}");
    };
    let mut failed = vec![first];
    let mut hints = hints(said);
    if let Installer::Uv(_) = installer {
        for attempt in 0..MAX_TRIES {
            let overrides = scratch.join(format!("overrides-{attempt}.txt"));
            let lines: String = failed
                .iter()
                .map(|f| format!("{} ; python_version < \"0\"\n", requirement_name(f)))
                .collect();
            let target = scratch.join(format!("try-{attempt}"));
            if fs::write(&overrides, lines).is_err() {
                break;
            }
            let Ok(out) = retry(&target, &overrides).output() else {
                break;
            };
            let _ = fs::remove_dir_all(&target);
            let stderr = String::from_utf8_lossy(&out.stderr);
            match failed_build(&stderr) {
                Some(next) if !failed.contains(&next) => {
                    hints.extend(self::hints(&stderr));
                    failed.push(next);
                }
                _ => break,
            }
        }
    }
    let count = match failed.len() {
        1 => "1 distribution has".to_owned(),
        n => format!("{n} distributions have"),
    };
    let hints: String = hints.iter().map(|h| format!(" ({h})")).collect();
    anyhow!(
        "{count} no wheel for Python {python} on this platform and could not be built from source: {}{hints}. Ways out: depend on a version that ships a wheel for Python {python} (`only-binary = [\":all:\"]` in [install] makes the resolver pick one), put a wheel in [install] find-links, or install what the build needs\n{name} said about {}:\n{said}",
        failed.join(", "),
        failed[0]
    )
}

/// The first distribution uv says it failed to build, e.g. `sklearn==0.0.post12`.
fn failed_build(stderr: &str) -> Option<String> {
    stderr.lines().find_map(|line| {
        let rest = line
            .trim_start()
            .strip_prefix("error: Failed to ")?
            .split_once("build `")?
            .1;
        rest.split_once('`').map(|(what, _)| what.to_owned())
    })
}

/// uv's hints that are about a package, not the generic ones.
fn hints(stderr: &str) -> BTreeSet<String> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("hint: "))
        .filter(|h| !h.starts_with("Build failures usually"))
        .map(|h| h.trim().replace('`', ""))
        .collect()
}

/// The distribution name of a requirement as uv prints it (`name==1.0`, `name @ url`).
fn requirement_name(requirement: &str) -> &str {
    let end = requirement
        .find(|c: char| "=<>!~ @[;(".contains(c))
        .unwrap_or(requirement.len());
    &requirement[..end]
}

fn after<'a>(text: &'a str, marker: &str) -> Option<&'a str> {
    let rest = &text[text.find(marker)? + marker.len()..];
    Some(rest.lines().next().unwrap_or_default().trim())
}

/// The text between `start` and the first `end` after it, on one line.
fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    text.lines().find_map(|line| {
        let rest = &line[line.find(start)? + start.len()..];
        Some(&rest[..rest.find(end)?])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_uv_failed_to_build() {
        let said = "Using CPython 3.11.2\nerror: Failed to build `sklearn==0.0.post12`\n  cause: The build backend returned an error\nhint: `sklearn` is often confused for `scikit-learn`. Did you mean to install `scikit-learn` instead?\n\nhint: Build failures usually indicate a problem\n";
        assert_eq!(failed_build(said).unwrap(), "sklearn==0.0.post12");
        assert_eq!(
            failed_build("error: Failed to download and build `foo @ file:///x`\n").unwrap(),
            "foo @ file:///x"
        );
        assert_eq!(requirement_name("sklearn==0.0.post12"), "sklearn");
        assert_eq!(requirement_name("foo @ file:///x"), "foo");
        let h = hints(said);
        assert_eq!(h.len(), 1);
        assert!(h
            .iter()
            .next()
            .unwrap()
            .starts_with("sklearn is often confused"));
    }
}
