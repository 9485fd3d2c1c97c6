//! The JSON bodies of the repository protocol, used by the client and the server alike
//! so both sides agree on one definition.
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
//! A manifest's ETag is `"<artifact_sha256>.<version>"` ([`Manifest::etag`]): it names
//! the bytes, so a client builds it from the manifest it has, with the server's code. The yanked flag and the local name are
//! not part of it; a yanked version is therefore never answered with a 304, and a new
//! local name reaches a client with a current manifest through `versions`, or with its
//! next new version.

use serde::{Deserialize, Serialize};

use crate::Kind;

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
///
/// Digests travel as text (here and in [`Manifest`]) rather than as [`Sha256`]: a body
/// then always parses, and each side checks the digests it uses by parsing them into a
/// [`Sha256`] before they name a file or a URL.
///
/// [`Sha256`]: crate::Sha256
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobRef {
    pub sha256: String,
    pub size: u64,
}

/// A published version: the artifact is the concatenation of `blobs` in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub kind: Kind,
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

impl Manifest {
    /// The `ETag` the server sends with this manifest, quotes included: it names the
    /// bytes (which a version never changes), so the client can send it back as
    /// `If-None-Match` from the copy it has.
    pub fn etag(&self) -> String {
        etag(&self.artifact_sha256, &self.version)
    }
}

/// The ETag of the version `version` whose artifact hashes to `artifact_sha256` (see
/// [`Manifest::etag`]): for a reader that knows both without the manifest.
pub fn etag(artifact_sha256: &str, version: &str) -> String {
    format!("\"{artifact_sha256}.{version}\"")
}

/// The body of `POST /v1/packages/{kind}/{name}`; every blob must be uploaded first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishRequest {
    pub artifact_sha256: String,
    pub size: u64,
    /// Required (`"3.11"`) for [`FORMAT_PYK`]; may be `""` for [`FORMAT_FILE`].
    pub python: String,
    pub blobs: Vec<BlobRef>,
    /// The version to publish as (see [`valid_version`](crate::valid_version)); `None` takes the next
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

/// The body of `PUT /v1/packages/{kind}/{name}/localname` (see [`valid_localname`](crate::valid_localname)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalnameRequest {
    pub localname: String,
}

/// One line of `GET /v1/packages`: a package that has at least one version, with its
/// latest. A package with nothing promoted has `version` `""` (and `size` and
/// `published` 0).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageSummary {
    pub kind: Kind,
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn etag_names_the_bytes_and_the_version() {
        let m: Manifest = serde_json::from_str(
            r#"{"kind":"lib","name":"x","version":"1.0+b","published":1,"publisher":"n",
            "artifact_sha256":"ab","size":1,"python":"3.11","blobs":[],"yanked":true}"#,
        )
        .unwrap();
        assert_eq!(m.kind, Kind::Lib);
        assert_eq!(m.etag(), "\"ab.1.0+b\"");
    }
}
