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
//! GET    /packages/{kind}/{name}/next              NextVersion (what a signer needs)
//! GET    /packages/{kind}/{name}/versions          VersionList
//! GET    /packages/{kind}/{name}/versions/{v}      Manifest of v, yanked or not (its `api`
//!                                                  names the blob of its API tree, if any)
//! DELETE /packages/{kind}/{name}/versions/{v}      [?force=true[&latest=V&issued=MS&key=K&sig=S]]
//!                                                  -> {"deleted": "run/foo@v"}
//! POST   /packages/{kind}/{name}/versions/{v}/yank YankRequest -> Manifest
//! POST   /packages/{kind}/{name}/promote           PromoteRequest -> Manifest
//! PUT    /packages/{kind}/{name}/localname         LocalnameRequest -> the same
//! ```
//!
//! Errors are an [`ErrorBody`]: 400 for a bad name, version, local name or body; 404
//! for no such package (`no package run/foo`), nothing promoted (`run foo has no
//! promoted version`) or no such version; 409 for a version string already used, a
//! promote of a yanked version, a delete of the latest without `force`, blobs not
//! uploaded, or a latest statement that is stale or names another version than the one
//! latest moves to. An error's `code` says which, for clients that act on it.
//!
//! Signatures (see [`crate::statement`]): a version may carry its publisher's
//! [`Signature`] of its version statement, and every move of `latest` may carry a
//! [`LatestPointer`] signed by whoever asked for it. The server checks that each
//! signature is valid for the key it names, that a pointer names the version `latest`
//! moves to and is newer than any it accepted for the package, and stores them; it
//! never decides which keys to trust: clients do.
//!
//! A manifest's ETag is `"<artifact_sha256>.<version>"` ([`Manifest::etag`]): it names
//! the bytes, so a client builds it from the manifest it has, with the server's code. The yanked flag and the local name are
//! not part of it; a yanked version is therefore never answered with a 304, and a new
//! local name reaches a client with a current manifest through `versions`, or with its
//! next new version.

use serde::{Deserialize, Serialize};

pub use crate::platforms::PlatformArtifact;
use crate::statement::{LatestStatement, VersionStatement};
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

/// An ed25519 signature and the public key that made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// `pyk-ed25519:<base64url of the 32-byte public key>`.
    pub key: String,
    /// base64url (no padding) of the 64-byte signature.
    pub sig: String,
}

/// A signed move of `latest`: the latest statement's values and its signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatestPointer {
    pub version: String,
    /// Unix milliseconds; the server accepts only pointers newer than the last one it
    /// accepted for the package.
    pub issued: u64,
    pub signature: Signature,
}

impl LatestPointer {
    /// The statement this pointer signs, for package `kind`/`name`.
    pub fn statement<'a>(&'a self, kind: Kind, name: &'a str) -> LatestStatement<'a> {
        LatestStatement {
            kind,
            name,
            version: &self.version,
            issued: self.issued,
        }
    }
}

/// Where a change takes `latest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move<'a> {
    /// It stays where it is.
    Stays,
    To(&'a str),
    /// It points at nothing (nothing left to promote).
    Cleared,
}

/// Why a change's signed pointer does not fit the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PointerMismatch {
    /// Not newer than `floor`, the newest `issued` the package accepted.
    Stale { issued: u64, floor: u64 },
    /// It names version `names`, but latest `moves` ("moves to version 3", "does not
    /// move", "is cleared").
    Wrong { moves: String, names: String },
}

/// The rule every store applies, inside the change, to the signed pointer a change
/// carries: it must name the version `latest` moves to, and be newer than `floor`. No
/// pointer is an unsigned change, which is the client's to refuse. Defined here once
/// for the server's stores and a bucket written directly.
pub fn check_pointer(
    pointer: Option<&LatestPointer>,
    to: Move<'_>,
    floor: u64,
) -> Result<(), PointerMismatch> {
    let Some(p) = pointer else { return Ok(()) };
    let moves = match to {
        Move::To(v) if v == p.version => {
            if p.issued <= floor {
                return Err(PointerMismatch::Stale {
                    issued: p.issued,
                    floor,
                });
            }
            return Ok(());
        }
        Move::To(v) => format!("moves to version {v}"),
        Move::Stays => "does not move".to_owned(),
        Move::Cleared => "is cleared".to_owned(),
    };
    Err(PointerMismatch::Wrong {
        moves,
        names: p.version.clone(),
    })
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
    /// The file name `pyk pull` writes this version to, as its publisher signed it (in
    /// the version statement). Unlike `localname`, which anyone with the write key may
    /// change at any time, machines that trust keys go by this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_localname: Option<String>,
    /// The publisher's signature of the version statement ([`Manifest::statement`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<Signature>,
    /// In an answer about `latest` only: the signed pointer that made this version the
    /// latest, if the move was signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest: Option<LatestPointer>,
    /// The API tree `pyk build` recorded (JSON: modules, functions, classes, signatures),
    /// stored as one more blob, so `pyk info` reads it without the package. Not part of
    /// the signed statement: it describes the signed app layer, which holds it too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<BlobRef>,
    /// Each platform's artifact, when the version has one per platform (see
    /// [`crate::platforms`]): `blobs` then lists every blob of the version once. Empty: the
    /// version is one linux-x86_64 artifact, the concatenation of `blobs`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<PlatformArtifact>,
}

impl Manifest {
    /// The version statement its signature covers.
    pub fn statement(&self) -> VersionStatement<'_> {
        VersionStatement {
            kind: self.kind,
            name: &self.name,
            version: &self.version,
            format: &self.format,
            python: &self.python,
            executable: self.executable,
            localname: self.signed_localname.as_deref(),
            artifact_sha256: &self.artifact_sha256,
            blobs: self
                .blobs
                .iter()
                .map(|b| (b.sha256.as_str(), b.size))
                .collect(),
            platforms: self.platforms.iter().map(PlatformArtifact::line).collect(),
        }
    }

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
    /// The file name `pyk pull` writes this version to, signed with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_localname: Option<String>,
    /// The publisher's signature of the version statement; a signed publish names its
    /// `version` (ask `next` for the automatic one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<Signature>,
    /// With `promote`: the signed pointer to the new version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest: Option<LatestPointer>,
    /// The API tree's blob (uploaded first, like the others).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<BlobRef>,
    /// Each platform's artifact (see [`Manifest::platforms`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<PlatformArtifact>,
}

impl PublishRequest {
    /// The manifest a store records for this request as `version`: not yanked, no local
    /// name and not latest yet (the store sets those).
    pub fn manifest(
        &self,
        kind: Kind,
        name: &str,
        version: String,
        publisher: &str,
        now: u64,
    ) -> Manifest {
        Manifest {
            kind,
            name: name.to_owned(),
            version,
            published: now,
            publisher: publisher.to_owned(),
            artifact_sha256: self.artifact_sha256.clone(),
            size: self.size,
            python: self.python.clone(),
            blobs: self.blobs.clone(),
            format: self.format.clone(),
            executable: self.executable,
            yanked: false,
            localname: None,
            signed_localname: self.signed_localname.clone(),
            signature: self.signature.clone(),
            latest: None,
            api: self.api.clone(),
            platforms: self.platforms.clone(),
        }
    }

    /// The version statement of this request published as `kind`/`name` at `version`.
    pub fn statement<'a>(
        &'a self,
        kind: Kind,
        name: &'a str,
        version: &'a str,
    ) -> VersionStatement<'a> {
        VersionStatement {
            kind,
            name,
            version,
            format: &self.format,
            python: &self.python,
            executable: self.executable,
            localname: self.signed_localname.as_deref(),
            artifact_sha256: &self.artifact_sha256,
            blobs: self
                .blobs
                .iter()
                .map(|b| (b.sha256.as_str(), b.size))
                .collect(),
            platforms: self.platforms.iter().map(PlatformArtifact::line).collect(),
        }
    }
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
    /// The key that signed the version (`pyk-ed25519:…`), if it is signed: unlike
    /// `publisher`, which is what the publishing machine called itself, it cannot be
    /// claimed by anyone else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_by: Option<String>,
    /// The platforms it has an artifact for ([`Manifest::platform_names`]); empty from a
    /// server older than platforms.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<String>,
    /// When it was last made the latest (Unix seconds): by a publish that promoted it,
    /// a promote or rollback, or `latest` falling back to it. `None` if never, or never
    /// recorded (a store older than the record). What retention spares a version
    /// promoted within its window by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promoted: Option<u64>,
}

impl VersionInfo {
    /// The entry of version `m` in a [`VersionList`].
    pub fn of(m: &Manifest, yanked: bool) -> VersionInfo {
        VersionInfo {
            version: m.version.clone(),
            published: m.published,
            publisher: m.publisher.clone(),
            size: m.size,
            yanked,
            artifact_sha256: m.artifact_sha256.clone(),
            format: m.format.clone(),
            signed_by: m.signature.as_ref().map(|s| s.key.clone()),
            platforms: m.platform_names().into_iter().map(str::to_owned).collect(),
            promoted: None,
        }
    }
}

/// The body of `GET /v1/packages/{kind}/{name}/next`: what a publisher needs to sign
/// before it asks for a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextVersion {
    /// The automatic version a publish would get now (a concurrent publish may take it
    /// first: the publish then fails with code [`CODE_VERSION_EXISTS`] and the publisher
    /// asks again).
    pub version: String,
    /// The `issued` of the newest latest statement the server accepted for the package
    /// (0 if none): a new one must be later.
    pub latest_issued: u64,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest: Option<LatestPointer>,
}

/// The body of `POST /v1/packages/{kind}/{name}/versions/{version}/yank`: `false`
/// takes a yank back (without making the version latest again).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct YankRequest {
    pub yanked: bool,
    /// When the yank moves `latest` (the version is the latest): the signed pointer to
    /// where it goes, the newest other version not yanked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest: Option<LatestPointer>,
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
    /// The latest's publisher (what the publishing machine called itself); `""` from a
    /// server older than the field, and with nothing promoted.
    #[serde(default)]
    pub publisher: String,
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
    /// Which refusal, for clients that act on it: one of the `CODE_*` constants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// With [`CODE_CLOCK`]: how far the token's time is ahead of the server's clock, in
    /// seconds (negative: behind).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skew: Option<i64>,
}

impl ErrorBody {
    pub fn new(error: impl Into<String>) -> ErrorBody {
        ErrorBody {
            error: error.into(),
            code: None,
            skew: None,
        }
    }
}

/// 409: the version string is taken.
pub const CODE_VERSION_EXISTS: &str = "version-exists";
/// 409: a latest statement is not newer than the last one the server accepted.
pub const CODE_STALE_LATEST: &str = "stale-latest";
/// 409: a latest statement names another version than the one latest moves to.
pub const CODE_WRONG_LATEST: &str = "wrong-latest";
/// 409: a publish names a blob the repository does not hold (with that size).
pub const CODE_MISSING_BLOB: &str = "missing-blob";
/// 409: a promote of a yanked version.
pub const CODE_YANKED: &str = "yanked";
/// 409: a delete of the latest version without `force`.
pub const CODE_IS_LATEST: &str = "is-latest";
/// 409: every automatic version number is taken.
pub const CODE_NUMBERS_USED_UP: &str = "numbers-used-up";
/// 409: other writers of a shared repository kept winning; nothing was changed.
pub const CODE_BUSY: &str = "busy";
/// 404: the package has no such version.
pub const CODE_NO_VERSION: &str = "no-version";
/// 400: a publish request no repository accepts.
pub const CODE_INVALID: &str = "invalid";
/// 401: the token was made outside the server's time window (a clock off, or a token
/// kept too long).
pub const CODE_CLOCK: &str = "clock";
/// 401: the token was used before.
pub const CODE_REPLAYED: &str = "replayed";
/// 401: the token was made for another body.
pub const CODE_BODY: &str = "body";

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
        assert_eq!((m.signature, m.latest, m.api), (None, None, None));
        let old = r#"{"artifact_sha256":"ab","size":1,"python":"3.11","blobs":[]}"#;
        let r: PublishRequest = serde_json::from_str(old).unwrap();
        assert_eq!((r.version, r.promote, r.executable), (None, true, true));
        assert_eq!((r.signature, r.latest, r.api), (None, None, None));
        assert!(r.platforms.is_empty());
        let p: PromoteRequest = serde_json::from_str(r#"{"version":"1"}"#).unwrap();
        assert_eq!(p.latest, None);
        let e: ErrorBody = serde_json::from_str(r#"{"error":"no"}"#).unwrap();
        assert_eq!(e, ErrorBody::new("no"));
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

/// The body of `POST /v1/gc` (write key): apply the server's retention policy and
/// collect unreferenced blobs, or with `dry_run` only say which versions would go.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcRequest {
    #[serde(default)]
    pub dry_run: bool,
}

/// One version a garbage collection removed (or, dry, would remove).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcVersion {
    pub kind: Kind,
    pub name: String,
    pub version: String,
}

/// The answer to `POST /v1/gc`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcResponse {
    pub dry_run: bool,
    /// The versions the retention policy removed (or would remove), package by package
    /// in publish order.
    pub removed: Vec<GcVersion>,
    /// Blobs deleted and their stored bytes (0 on a dry run).
    pub blobs: u64,
    pub bytes: u64,
}
