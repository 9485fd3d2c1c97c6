//! The JSON bodies of the repository protocol, shared with the client so both sides
//! agree on one definition.
//!
//! Every field added after the first release is `#[serde(default)]`, so manifests
//! stored by an older server and requests from an older client still parse.
//!
//! A package has immutable versions (a version string, once used, never names other
//! bytes, even after the version is deleted) and a `latest` pointer that publish (with
//! `promote`), promote, yank and delete move. `latest` always points at an existing
//! version that is not yanked, or at nothing. The endpoints, all under `/v1`; writes
//! (POST, PUT, DELETE) need the write key:
//!
//! ```text
//! GET    /packages                                 PackageList
//! GET    /packages/{kind}/{name}                   Manifest that latest points at
//! POST   /packages/{kind}/{name}                   PublishRequest -> 201 PublishResponse
//! DELETE /packages/{kind}/{name}                   every version and the local name
//! GET    /packages/{kind}/{name}/watch?after=V     long-poll until latest is not V
//! GET    /packages/{kind}/{name}/versions          VersionList
//! GET    /packages/{kind}/{name}/versions/{v}      Manifest of v, yanked or not
//! DELETE /packages/{kind}/{name}/versions/{v}      [?force=true] -> {"deleted": "run/foo@v"}
//! POST   /packages/{kind}/{name}/versions/{v}/yank YankRequest -> Manifest
//! POST   /packages/{kind}/{name}/promote           PromoteRequest -> Manifest
//! PUT    /packages/{kind}/{name}/localname         LocalnameRequest -> the same
//! ```
//!
//! Errors are an [`ErrorBody`]: 400 for a bad name, version, local name or body; 404
//! for no such package (`no package run/foo`), nothing promoted (`run foo has no
//! promoted version`) or no such version; 409 for a version string already used, a
//! promote of a yanked version, a delete of the latest without `force`, or blobs not
//! uploaded.
//!
//! A manifest's ETag is `"<artifact_sha256>.<version>"`: it names the bytes, so a
//! client can build it from the manifest it has. The yanked flag and the local name are
//! not part of it; a yanked version is therefore never answered with a 304, and a new
//! local name reaches a client with a current manifest through `versions`, or with its
//! next new version.

use serde::{Deserialize, Serialize};

/// `format` of a packed pyk executable.
pub const FORMAT_PYK: &str = "pyk";
/// `format` of an arbitrary file pushed as is (`pyk push`).
pub const FORMAT_FILE: &str = "file";

fn format_pyk() -> String {
    FORMAT_PYK.to_owned()
}

fn yes() -> bool {
    true
}

/// One blob of an artifact: the sha256 and length of its PLAINTEXT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobRef {
    pub sha256: String,
    pub size: u64,
}

/// A published version: the artifact is the concatenation of `blobs` in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// `"run"` or `"lib"`.
    pub kind: String,
    pub name: String,
    pub version: String,
    /// Unix seconds.
    pub published: u64,
    pub publisher: String,
    pub artifact_sha256: String,
    pub size: u64,
    /// `"3.11"`; `""` for a file that is not a pyk executable.
    pub python: String,
    pub blobs: Vec<BlobRef>,
    /// [`FORMAT_PYK`] or [`FORMAT_FILE`].
    #[serde(default = "format_pyk")]
    pub format: String,
    /// Whether the artifact is to be written with its executable bit set.
    #[serde(default = "yes")]
    pub executable: bool,
    /// Withdrawn: never the latest, but still served to whoever asks for it by version,
    /// so machines pinned to it keep working.
    #[serde(default)]
    pub yanked: bool,
    /// The file name the package is written to when pulled, if one was set (a property
    /// of the package, not of the version: it is reported with every version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub localname: Option<String>,
}

/// The body of `POST /v1/packages/{kind}/{name}`; every blob must be uploaded first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishRequest {
    pub artifact_sha256: String,
    pub size: u64,
    /// Required (`"3.11"`) for [`FORMAT_PYK`]; may be `""` for [`FORMAT_FILE`].
    pub python: String,
    pub blobs: Vec<BlobRef>,
    /// The version to publish as (see [`valid_version`]); `None` takes the next
    /// automatic number: one more than the highest all-digit version the package ever
    /// had, so automatic numbers only grow.
    #[serde(default)]
    pub version: Option<String>,
    /// Whether the new version becomes `latest`. False stores it for promoting later.
    #[serde(default = "yes")]
    pub promote: bool,
    /// [`FORMAT_PYK`] (default) or [`FORMAT_FILE`].
    #[serde(default = "format_pyk")]
    pub format: String,
    /// For a file: whether it was executable where it was pushed from.
    #[serde(default = "yes")]
    pub executable: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishResponse {
    pub version: String,
    pub manifest: Manifest,
}

/// One version in a [`VersionList`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionInfo {
    pub version: String,
    /// Unix seconds.
    pub published: u64,
    pub publisher: String,
    pub size: u64,
    pub yanked: bool,
    pub artifact_sha256: String,
    pub format: String,
}

/// The body of `GET /v1/packages/{kind}/{name}/versions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionList {
    /// The version `GET /v1/packages/{kind}/{name}` answers with; `None` when nothing is
    /// promoted.
    pub latest: Option<String>,
    pub localname: Option<String>,
    /// Every version still stored, in publish order (oldest first).
    pub versions: Vec<VersionInfo>,
}

/// The body of `POST /v1/packages/{kind}/{name}/promote`: makes `version` the latest,
/// whether it is newer or older (a rollback) than the current one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromoteRequest {
    pub version: String,
}

/// The body of `POST /v1/packages/{kind}/{name}/versions/{version}/yank`: `false`
/// takes a yank back (without making the version latest again).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct YankRequest {
    pub yanked: bool,
}

/// The body of `PUT /v1/packages/{kind}/{name}/localname` (see [`valid_localname`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalnameRequest {
    pub localname: String,
}

/// One line of `GET /v1/packages`: a package that has at least one version, with its
/// latest. A package with nothing promoted has `version` `""` (and `size` and
/// `published` 0).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageSummary {
    pub kind: String,
    pub name: String,
    pub version: String,
    pub size: u64,
    pub published: u64,
}

/// The body of `GET /v1/packages`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageList {
    pub packages: Vec<PackageSummary>,
}

/// The body of every 4xx/5xx answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
}

/// The two package namespaces (a runner and a library may share a name): the same
/// kinds an artifact's trailer records.
pub use pyk_artifact::trailer::Kind;

/// Whether `s` is a sha256 as the protocol writes it: 64 lowercase hex digits. One
/// spelling only, so a blob has one URL and one file name.
pub fn valid_sha256(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
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

/// The longest version string.
pub const MAX_VERSION: usize = 64;

/// The rule [`valid_version`] checks, for error messages.
pub const VERSION_RULE: &str = "a version is 1 to 64 characters: a letter or digit, then \
     letters, digits, '.', '_', '+' or '-', and not \"latest\"";

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

/// The longest local file name, in bytes (the usual file-system limit).
pub const MAX_LOCALNAME: usize = 255;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validators() {
        assert!(valid_sha256(&"ab".repeat(32)));
        assert!(!valid_sha256(&"AB".repeat(32)));
        assert!(!valid_sha256(&"ab".repeat(31)));
        assert!(!valid_sha256(&"zz".repeat(32)));
        assert!(valid_python("3.11"));
        assert!(!valid_python("3"));
        assert!(!valid_python("3.x"));
        assert!(!valid_python(".11"));
        assert_eq!(Kind::parse("run"), Some(Kind::Run));
        assert_eq!(Kind::parse("Run"), None);
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
        }
    }

    #[test]
    fn old_bodies_still_parse() {
        let old = r#"{"kind":"run","name":"x","version":"1","published":1,"publisher":"n",
            "artifact_sha256":"ab","size":1,"python":"3.11","blobs":[]}"#;
        let m: Manifest = serde_json::from_str(old).unwrap();
        assert_eq!(
            (m.format.as_str(), m.executable, m.yanked),
            ("pyk", true, false)
        );
        assert_eq!(m.localname, None);
        let old = r#"{"artifact_sha256":"ab","size":1,"python":"3.11","blobs":[]}"#;
        let r: PublishRequest = serde_json::from_str(old).unwrap();
        assert_eq!((r.version, r.promote, r.executable), (None, true, true));
        assert_eq!(r.format, "pyk");
    }
}
