//! What a publisher signs: a version statement for every version it creates, a latest
//! statement for every move of a package's `latest` pointer, and a client statement for
//! a pyk binary its repository hands out (`pyk self sign`).
//!
//! Both are canonical text, one field a line, each line ending in `\n`, the first line
//! naming the kind of statement (so one can never pass for the other):
//!
//! ```text
//! pyk-version-v1                  pyk-latest-v1           pyk-client-v1
//! kind: run                       kind: run               platform: linux-x86_64
//! name: foo                       name: foo               version: 0.2.0
//! version: 1.4.0                  version: 1.4.0          sha256: <64 hex>
//! format: pyk                     issued: 1712345678123
//! python: 3.11
//! executable: true
//! artifact-sha256: <64 hex>
//! blob: <64 hex> <size>           (one line per blob, in order)
//! ```
//!
//! `issued` is Unix time in milliseconds. A statement is built only from values that
//! cannot hold a line break ([`Statement::text`] refuses any that does), so two
//! different statements never have the same text.
//!
//! A version statement binds everything a client acts on: which bytes (every blob's
//! digest and size, and the whole artifact's), how they run (format, Python, the
//! executable bit) and under what name. A latest statement binds the pointer; clients
//! remember the newest `issued` they accepted per package and refuse an older one, so
//! replaying an old, genuinely signed pointer cannot roll them back.

use std::fmt::Write as _;

use crate::Kind;

/// The first line of a version statement.
pub const VERSION_V1: &str = "pyk-version-v1";
/// The first line of a latest statement.
pub const LATEST_V1: &str = "pyk-latest-v1";
/// The first line of a client statement.
pub const CLIENT_V1: &str = "pyk-client-v1";

/// The signed facts of one version.
#[derive(Debug, Clone)]
pub struct VersionStatement<'a> {
    pub kind: Kind,
    pub name: &'a str,
    pub version: &'a str,
    pub format: &'a str,
    pub python: &'a str,
    pub executable: bool,
    pub artifact_sha256: &'a str,
    /// `(sha256, size)` of each blob, in order.
    pub blobs: Vec<(&'a str, u64)>,
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

impl Statement for VersionStatement<'_> {
    fn text(&self) -> Result<String, Unwritable> {
        let mut out = format!("{VERSION_V1}\n");
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
        field(&mut out, "artifact-sha256", self.artifact_sha256)?;
        for (sha256, size) in &self.blobs {
            field(&mut out, "blob", &format!("{sha256} {size}"))?;
        }
        Ok(out)
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
            artifact_sha256: "cc",
            blobs: vec![("aa", 3), ("bb", 4)],
        };
        assert_eq!(
            v.text().unwrap(),
            "pyk-version-v1\nkind: run\nname: foo\nversion: 1.4.0\nformat: pyk\n\
             python: 3.11\nexecutable: true\nartifact-sha256: cc\nblob: aa 3\nblob: bb 4\n"
        );
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
}
