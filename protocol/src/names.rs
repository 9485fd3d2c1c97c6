//! Package names, version strings and local file names: what may become a URL path
//! segment or a file name, checked by one set of rules on both ends.

use std::fmt;

use crate::Kind;

/// The longest package name.
pub const MAX_NAME: usize = 64;
/// The longest version string.
pub const MAX_VERSION: usize = 64;
/// The longest local file name, in bytes (the usual file-system limit).
pub const MAX_LOCALNAME: usize = 255;

/// The rule [`valid_name`] checks, for error messages.
pub const NAME_RULE: &str = "a package name is 1 to 64 characters: a letter or digit, then \
     letters, digits, '.', '_' or '-'";
/// The rule [`valid_version`] checks, for error messages.
pub const VERSION_RULE: &str = "a version is 1 to 64 characters: a letter or digit, then \
     letters, digits, '.', '_', '+' or '-', and not \"latest\"";
/// The rule [`valid_localname`] checks, for error messages.
pub const LOCALNAME_RULE: &str = "a plain file name of 1 to 255 bytes, without '/' or \
     control characters, and not '.' or '..'";

/// Whether `name` can name a package: 1 to [`MAX_NAME`] ASCII letters, digits and `._-`,
/// a letter or digit first. It ends up in file names, cache paths and URLs as is.
pub fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_NAME
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"._-".contains(c))
}

/// Whether `s` can name a version: 1 to [`MAX_VERSION`] characters, a letter or digit
/// first, then letters, digits and `._+-`. Safe in a URL path segment and a file name
/// as is; `latest` (any case) is reserved for the pointer.
pub fn valid_version(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_VERSION
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"._+-".contains(c))
        && !s.eq_ignore_ascii_case("latest")
}

/// Whether `s` is a plain file name a client can write into its download directory:
/// 1 to [`MAX_LOCALNAME`] bytes, no `/`, no NUL or other control characters, and not
/// `.` or `..`, so it can never escape that directory.
pub fn valid_localname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_LOCALNAME
        && s != "."
        && s != ".."
        && !s.chars().any(|c| c == '/' || c.is_control())
}

/// Whether `s` names a Python version the way manifests do: `"3.11"`.
pub fn valid_python(s: &str) -> bool {
    match s.split_once('.') {
        Some((major, minor)) => {
            let num =
                |p: &str| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit());
            num(major) && num(minor)
        }
        None => false,
    }
}

/// A name, version or local name that breaks its rule; says which rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalid {
    Name(String),
    Version(String),
    Localname(String),
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Invalid::Name(s) => write!(f, "invalid package name {s:?}: {NAME_RULE}"),
            Invalid::Version(s) => write!(f, "invalid version {s:?}: {VERSION_RULE}"),
            Invalid::Localname(s) => write!(f, "invalid local name {s:?}: {LOCALNAME_RULE}"),
        }
    }
}

impl std::error::Error for Invalid {}

/// [`valid_version`], as an error that says the rule.
pub fn check_version(s: &str) -> Result<(), Invalid> {
    valid_version(s)
        .then_some(())
        .ok_or_else(|| Invalid::Version(s.to_owned()))
}

/// [`valid_localname`], as an error that says the rule.
pub fn check_localname(s: &str) -> Result<(), Invalid> {
    valid_localname(s)
        .then_some(())
        .ok_or_else(|| Invalid::Localname(s.to_owned()))
}

/// A package in a repository: a kind and a name that [`valid_name`] accepts, so it can
/// go into a URL or a path without another check.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PackageRef {
    kind: Kind,
    name: String,
}

impl PackageRef {
    pub fn new(kind: Kind, name: &str) -> Result<PackageRef, Invalid> {
        if !valid_name(name) {
            return Err(Invalid::Name(name.to_owned()));
        }
        Ok(PackageRef {
            kind,
            name: name.to_owned(),
        })
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

/// `run package foo`: how messages name it.
impl fmt::Display for PackageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} package {}", self.kind, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_name("foo"));
        assert!(valid_name("foo.bar-2_x"));
        for bad in ["", ".x", "-x", "a/b", "..", "a b", "é", &"x".repeat(65)] {
            assert!(!valid_name(bad), "{bad:?}");
            assert_eq!(
                PackageRef::new(Kind::Run, bad),
                Err(Invalid::Name(bad.into()))
            );
        }
        let p = PackageRef::new(Kind::Lib, "foo").unwrap();
        assert_eq!((p.kind(), p.name()), (Kind::Lib, "foo"));
        assert_eq!(p.to_string(), "lib package foo");
        assert!(Invalid::Name("a/b".into())
            .to_string()
            .starts_with("invalid package name \"a/b\": "));
    }

    #[test]
    fn pythons() {
        assert!(valid_python("3.11"));
        assert!(!valid_python("3"));
        assert!(!valid_python("3.x"));
        assert!(!valid_python(".11"));
    }

    #[test]
    fn versions_and_localnames() {
        for good in [
            "1",
            "1.4.0",
            "2024-01-02",
            "1.0+build.5",
            "v2_rc-1",
            &"a".repeat(64),
        ] {
            assert!(valid_version(good), "{good}");
        }
        for bad in [
            "",
            "../1",
            "1 0",
            "latest",
            "LaTeSt",
            ".1",
            "-1",
            "1/2",
            "1%2F2",
            "é",
            &"a".repeat(65),
        ] {
            assert!(!valid_version(bad), "{bad}");
            assert!(check_version(bad)
                .unwrap_err()
                .to_string()
                .contains("1 to 64 characters"));
        }
        for good in [
            "narf.tar.gz",
            "a",
            "..a",
            "with space",
            "é.bin",
            &"x".repeat(255),
        ] {
            assert!(valid_localname(good), "{good}");
        }
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "/a",
            "a\0b",
            "a\nb",
            "a\u{7f}",
            &"x".repeat(256),
        ] {
            assert!(!valid_localname(bad), "{bad:?}");
            assert!(check_localname(bad)
                .unwrap_err()
                .to_string()
                .contains("plain file name"));
        }
    }
}
