//! What a publisher signs: a version statement for every version it creates, a latest
//! statement for every move of a package's `latest` pointer, and a client statement for
//! a pyk binary its repository hands out (`pyk self sign`).
//!
//! All are canonical text, one field a line, each line ending in `\n`, the first line
//! naming the kind of statement (so one can never pass for the other):
//!
//! ```text
//! pyk-version-v2                  pyk-latest-v1           pyk-client-v1
//! kind: run                       kind: run               platform: linux-x86_64
//! name: foo                       name: foo               version: 0.2.0
//! version: 1.4.0                  version: 1.4.0          sha256: <64 hex>
//! format: pyk                     issued: 1712345678123
//! python: 3.11
//! executable: true
//! localname: foo.pyz              (empty when the publisher set none)
//! artifact-sha256: <64 hex>
//! blob: <64 hex> <size>           (one line per blob, in order)
//! ```
//!
//! A version with an artifact per platform (`pyk publish --platform A --platform B`) is
//! signed as `pyk-version-v3`: the same lines (its `blob` lines list every blob of the
//! version once, its `artifact-sha256` is the first platform's), then one line per
//! platform, naming which of those blobs make that platform's artifact, in order:
//!
//! ```text
//! platform: linux-aarch64 <artifact sha256> <size> <blob sha256> <blob sha256> …
//! ```
//!
//! A version of one artifact for linux-x86_64 (every version before platforms were
//! recorded) is still signed as `pyk-version-v2`, which older clients verify.
//!
//! `issued` is Unix time in milliseconds. A statement is built only from values that
//! cannot hold a line break ([`Statement::text`] refuses any that does), so two
//! different statements never have the same text.
//!
//! A version statement binds everything a client acts on: which bytes (every blob's
//! digest and size, and the whole artifact's), how they run (format, Python, the
//! executable bit) and under what names (the package's, and the file name `pyk pull`
//! writes it to). A latest statement binds the pointer; clients remember the newest
//! `issued` they accepted per package and refuse an older one, so replaying an old,
//! genuinely signed pointer cannot roll them back.
//!
//! `issued` is bounded by clocks, so that no one statement can outrank every genuine
//! one to come: a publisher never signs one more than [`MAX_LEAD_MS`] ahead of its own
//! clock, and servers and clients refuse one dated more than [`MAX_SKEW_MS`] ahead of
//! theirs ([`too_far_ahead`]).
//!
//! Version 1 of the version statement had no `localname` line. Versions signed that
//! way are still stored on servers and in caches, and still verify
//! ([`VersionStatement::v1`]), but only while they claim no signed local name: a
//! man in the middle cannot add one to them.

use std::fmt::Write as _;

use crate::Kind;

/// The first line of a version statement.
pub const VERSION_V2: &str = "pyk-version-v2";
/// The first line of a version statement with an artifact per platform.
pub const VERSION_V3: &str = "pyk-version-v3";
/// The first line of a version statement signed before local names were signed.
pub const VERSION_V1: &str = "pyk-version-v1";
/// The first line of a latest statement.
pub const LATEST_V1: &str = "pyk-latest-v1";
/// The first line of a client statement.
pub const CLIENT_V1: &str = "pyk-client-v1";

/// How far ahead of its own clock a publisher may date a latest statement: only as far
/// as it must to follow the last one (clocks of two publishing machines differ).
pub const MAX_LEAD_MS: u64 = 2 * 60 * 1000;

/// How far ahead of a server's or client's clock a latest statement may be dated: the
/// publisher's lead and the difference between the two clocks.
pub const MAX_SKEW_MS: u64 = 10 * 60 * 1000;

/// Unix milliseconds now, by this machine's clock.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// How many milliseconds `issued` lies beyond `now` + [`MAX_SKEW_MS`], if it does: a
/// statement no honest publisher signed, refused wherever it is checked.
pub fn too_far_ahead(issued: u64, now: u64) -> Option<u64> {
    issued
        .checked_sub(now.saturating_add(MAX_SKEW_MS))
        .filter(|&ahead| ahead > 0)
}

/// The signed facts of one version.
#[derive(Debug, Clone)]
pub struct VersionStatement<'a> {
    pub kind: Kind,
    pub name: &'a str,
    pub version: &'a str,
    pub format: &'a str,
    pub python: &'a str,
    pub executable: bool,
    /// The file name `pyk pull` writes the version to, if its publisher set one.
    pub localname: Option<&'a str>,
    pub artifact_sha256: &'a str,
    /// `(sha256, size)` of each blob, in order.
    pub blobs: Vec<(&'a str, u64)>,
    /// Each platform's artifact; empty for a version of one linux-x86_64 artifact.
    pub platforms: Vec<PlatformLine<'a>>,
}

/// One platform's artifact in a version statement: which of the version's blobs make it.
#[derive(Debug, Clone)]
pub struct PlatformLine<'a> {
    pub platform: &'a str,
    pub artifact_sha256: &'a str,
    pub size: u64,
    pub blobs: Vec<&'a str>,
}

/// The signed facts of one move of `latest`.
#[derive(Debug, Clone, Copy)]
pub struct LatestStatement<'a> {
    pub kind: Kind,
    pub name: &'a str,
    pub version: &'a str,
    /// Unix milliseconds.
    pub issued: u64,
}

/// The signed facts of a pyk binary a repository hands out (`pyk self update`, see
/// [`crate::dist`]): which bytes, for which platform, and which version they are, so a
/// client can refuse an older one.
#[derive(Debug, Clone, Copy)]
pub struct ClientStatement<'a> {
    pub platform: &'a str,
    pub version: &'a str,
    pub sha256: &'a str,
}

/// A statement that cannot be written: a value holds a line break or control character.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unwritable(pub &'static str);

impl std::fmt::Display for Unwritable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "its {} holds a control character", self.0)
    }
}

impl std::error::Error for Unwritable {}

/// A statement's canonical text.
pub trait Statement {
    fn text(&self) -> Result<String, Unwritable>;
}

fn field(out: &mut String, name: &'static str, value: &str) -> Result<(), Unwritable> {
    if value.chars().any(char::is_control) {
        return Err(Unwritable(name));
    }
    // Writing to a String cannot fail.
    let _ = writeln!(out, "{name}: {value}");
    Ok(())
}

/// A version statement as version 1 wrote it (no local name): what versions signed
/// before version 2 carry a signature of.
pub struct VersionV1<'s, 'a>(&'s VersionStatement<'a>);

impl Statement for VersionV1<'_, '_> {
    fn text(&self) -> Result<String, Unwritable> {
        self.0.lines(VERSION_V1, false)
    }
}

impl<'a> VersionStatement<'a> {
    /// This statement as version 1 wrote it, to verify a version signed before version
    /// 2; `None` when it claims a local name, which version 1 cannot vouch for.
    pub fn v1(&self) -> Option<VersionV1<'_, 'a>> {
        (self.localname.is_none() && self.platforms.is_empty()).then_some(VersionV1(self))
    }

    fn lines(&self, head: &str, localname: bool) -> Result<String, Unwritable> {
        let mut out = format!("{head}\n");
        field(&mut out, "kind", self.kind.as_str())?;
        field(&mut out, "name", self.name)?;
        field(&mut out, "version", self.version)?;
        field(&mut out, "format", self.format)?;
        field(&mut out, "python", self.python)?;
        field(
            &mut out,
            "executable",
            if self.executable { "true" } else { "false" },
        )?;
        if localname {
            field(&mut out, "localname", self.localname.unwrap_or(""))?;
        }
        field(&mut out, "artifact-sha256", self.artifact_sha256)?;
        for (sha256, size) in &self.blobs {
            field(&mut out, "blob", &format!("{sha256} {size}"))?;
        }
        for p in &self.platforms {
            // Space-separated words: none may hold a space, or two lists could read alike.
            let words = [p.platform, p.artifact_sha256]
                .into_iter()
                .chain(p.blobs.iter().copied());
            if words.clone().any(|w| w.is_empty() || w.contains(' ')) {
                return Err(Unwritable("platform"));
            }
            let mut line = format!("{} {} {}", p.platform, p.artifact_sha256, p.size);
            for blob in &p.blobs {
                line.push(' ');
                line.push_str(blob);
            }
            field(&mut out, "platform", &line)?;
        }
        Ok(out)
    }
}

impl Statement for VersionStatement<'_> {
    fn text(&self) -> Result<String, Unwritable> {
        match self.platforms.is_empty() {
            true => self.lines(VERSION_V2, true),
            false => self.lines(VERSION_V3, true),
        }
    }
}

impl Statement for LatestStatement<'_> {
    fn text(&self) -> Result<String, Unwritable> {
        let mut out = format!("{LATEST_V1}\n");
        field(&mut out, "kind", self.kind.as_str())?;
        field(&mut out, "name", self.name)?;
        field(&mut out, "version", self.version)?;
        field(&mut out, "issued", &self.issued.to_string())?;
        Ok(out)
    }
}

impl Statement for ClientStatement<'_> {
    fn text(&self) -> Result<String, Unwritable> {
        let mut out = format!("{CLIENT_V1}\n");
        field(&mut out, "platform", self.platform)?;
        field(&mut out, "version", self.version)?;
        field(&mut out, "sha256", self.sha256)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_text() {
        let v = VersionStatement {
            kind: Kind::Run,
            name: "foo",
            version: "1.4.0",
            format: "pyk",
            python: "3.11",
            executable: true,
            localname: None,
            artifact_sha256: "cc",
            blobs: vec![("aa", 3), ("bb", 4)],
            platforms: Vec::new(),
        };
        assert_eq!(
            v.text().unwrap(),
            "pyk-version-v2\nkind: run\nname: foo\nversion: 1.4.0\nformat: pyk\n\
             python: 3.11\nexecutable: true\nlocalname: \nartifact-sha256: cc\n\
             blob: aa 3\nblob: bb 4\n"
        );
        assert_eq!(
            v.v1().unwrap().text().unwrap(),
            "pyk-version-v1\nkind: run\nname: foo\nversion: 1.4.0\nformat: pyk\n\
             python: 3.11\nexecutable: true\nartifact-sha256: cc\nblob: aa 3\nblob: bb 4\n"
        );
        let named = VersionStatement {
            localname: Some("foo.pyz"),
            ..v.clone()
        };
        assert!(named.text().unwrap().contains("\nlocalname: foo.pyz\n"));
        assert!(named.v1().is_none(), "v1 cannot vouch for a local name");
        let line = |platform, blobs| PlatformLine {
            platform,
            artifact_sha256: "cc",
            size: 7,
            blobs,
        };
        let two = VersionStatement {
            platforms: vec![
                line("linux-x86_64", vec!["aa", "bb"]),
                line("linux-aarch64", vec!["bb"]),
            ],
            ..v.clone()
        };
        assert_eq!(
            two.text().unwrap(),
            "pyk-version-v3\nkind: run\nname: foo\nversion: 1.4.0\nformat: pyk\n\
             python: 3.11\nexecutable: true\nlocalname: \nartifact-sha256: cc\n\
             blob: aa 3\nblob: bb 4\nplatform: linux-x86_64 cc 7 aa bb\n\
             platform: linux-aarch64 cc 7 bb\n"
        );
        assert!(two.v1().is_none(), "v1 cannot vouch for platforms");
        let spaced = VersionStatement {
            platforms: vec![line("linux x86_64", vec!["aa"])],
            ..v.clone()
        };
        assert_eq!(spaced.text(), Err(Unwritable("platform")));
        let l = LatestStatement {
            kind: Kind::Lib,
            name: "foo",
            version: "2",
            issued: 17,
        };
        assert_eq!(
            l.text().unwrap(),
            "pyk-latest-v1\nkind: lib\nname: foo\nversion: 2\nissued: 17\n"
        );
        let c = ClientStatement {
            platform: "linux-x86_64",
            version: "0.2.0",
            sha256: "dd",
        };
        assert_eq!(
            c.text().unwrap(),
            "pyk-client-v1\nplatform: linux-x86_64\nversion: 0.2.0\nsha256: dd\n"
        );
        let bad = VersionStatement {
            python: "3.11\nexecutable: false",
            ..v
        };
        assert_eq!(bad.text(), Err(Unwritable("python")));
    }

    #[test]
    fn a_statement_dated_beyond_the_skew_is_too_far_ahead() {
        let now = 1_000_000_000_000;
        assert_eq!(too_far_ahead(now, now), None);
        assert_eq!(too_far_ahead(now + MAX_SKEW_MS, now), None);
        assert_eq!(too_far_ahead(now + MAX_SKEW_MS + 5, now), Some(5));
        assert_eq!(too_far_ahead(u64::MAX, u64::MAX), None);
    }
}
