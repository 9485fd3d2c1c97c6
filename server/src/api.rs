//! The JSON bodies of the repository protocol, shared with the client so both sides
//! agree on one definition.

use serde::{Deserialize, Serialize};

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
    /// `"3.11"`.
    pub python: String,
    pub blobs: Vec<BlobRef>,
}

/// The body of `POST /v1/packages/{kind}/{name}`; every blob must be uploaded first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishRequest {
    pub artifact_sha256: String,
    pub size: u64,
    pub python: String,
    pub blobs: Vec<BlobRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishResponse {
    pub version: String,
    pub manifest: Manifest,
}

/// One line of `GET /v1/packages`: the latest version of a package.
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

/// The two package namespaces: a runner and a library may share a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Run,
    Lib,
}

impl Kind {
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "run" => Some(Kind::Run),
            "lib" => Some(Kind::Lib),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Run => "run",
            Kind::Lib => "lib",
        }
    }
}

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
}
