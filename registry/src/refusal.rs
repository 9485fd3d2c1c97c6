//! What a repository refuses, however it is reached: one enum, worded once, each
//! variant with the HTTP status a server answers it with and the protocol code a client
//! acts on. A serverless client gets the same values from the bucket, so a refusal
//! reads the same either way.

use pyk_protocol::api::{self, PointerMismatch};
use pyk_protocol::Kind;

use crate::{label, Invalid};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A publish request no repository accepts (which rule it breaks is the message,
    /// not a cause: it is printed once).
    #[error("invalid publish request: {0}")]
    Invalid(Invalid),
    /// A publish names a blob that is not stored (or not with that size).
    #[error("blob {0} is not in the repository; upload it first")]
    MissingBlob(String),
    /// The package (`"run foo"`) has no version of that name (now).
    #[error("{package} has no version {version}")]
    NoVersion { package: String, version: String },
    /// A publish reuses a version string: versions are immutable, so a string once used
    /// (even by a version since deleted) can never name other bytes.
    #[error("version {version} of {package} already exists")]
    VersionExists { package: String, version: String },
    /// A promote of a yanked version.
    #[error(
        "version {version} of {package} is yanked: make it eligible again with \
         `pyk yank --undo` first"
    )]
    Yanked { package: String, version: String },
    /// A delete of the version `latest` points at, without `force`.
    #[error(
        "version {version} is the latest of {package}; promote another first, or delete \
         it with --force (latest then moves to the newest version not yanked)"
    )]
    IsLatest { package: String, version: String },
    /// A signed pointer not newer than the last one the package accepted.
    #[error(
        "the latest statement for {package} was issued at {issued} ms, not after the last \
         one accepted ({floor} ms): ask again"
    )]
    StaleLatest {
        package: String,
        issued: u64,
        floor: u64,
    },
    /// A signed pointer that names another version than the one `latest` moves to.
    #[error("latest of {package} {moves}, but the latest statement names version {names}")]
    WrongLatest {
        package: String,
        /// "moves to version 3", "does not move", "is cleared".
        moves: String,
        names: String,
    },
    /// Every automatic number a u64 holds is taken.
    #[error("{package} has used up automatic version numbers; give a version explicitly")]
    NumbersUsedUp { package: String },
    /// Other writers on a shared store kept winning, or held the package's lease:
    /// nothing was changed.
    #[error("{package} is being changed by someone else ({why}); nothing was changed, try again")]
    Busy { package: String, why: String },
}

impl From<Invalid> for Refusal {
    fn from(e: Invalid) -> Refusal {
        Refusal::Invalid(e)
    }
}

impl Refusal {
    /// The HTTP status a server answers this refusal with.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::Invalid(_) => 400,
            Refusal::NoVersion { .. } => 404,
            Refusal::MissingBlob(_)
            | Refusal::VersionExists { .. }
            | Refusal::Yanked { .. }
            | Refusal::IsLatest { .. }
            | Refusal::StaleLatest { .. }
            | Refusal::WrongLatest { .. }
            | Refusal::NumbersUsedUp { .. }
            | Refusal::Busy { .. } => 409,
        }
    }

    /// Whether the refusal with protocol code `code` names its package (and version)
    /// in its message, so that a client adds nothing before it: all but a rule a publish
    /// breaks and a missing blob.
    pub fn names_its_subject(code: &str) -> bool {
        [
            api::CODE_NO_VERSION,
            api::CODE_VERSION_EXISTS,
            api::CODE_YANKED,
            api::CODE_IS_LATEST,
            api::CODE_STALE_LATEST,
            api::CODE_WRONG_LATEST,
            api::CODE_NUMBERS_USED_UP,
            api::CODE_BUSY,
        ]
        .contains(&code)
    }

    /// The protocol's code for it (`pyk_protocol::api::CODE_*`).
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Invalid(_) => api::CODE_INVALID,
            Refusal::MissingBlob(_) => api::CODE_MISSING_BLOB,
            Refusal::NoVersion { .. } => api::CODE_NO_VERSION,
            Refusal::VersionExists { .. } => api::CODE_VERSION_EXISTS,
            Refusal::Yanked { .. } => api::CODE_YANKED,
            Refusal::IsLatest { .. } => api::CODE_IS_LATEST,
            Refusal::StaleLatest { .. } => api::CODE_STALE_LATEST,
            Refusal::WrongLatest { .. } => api::CODE_WRONG_LATEST,
            Refusal::NumbersUsedUp { .. } => api::CODE_NUMBERS_USED_UP,
            Refusal::Busy { .. } => api::CODE_BUSY,
        }
    }

    pub fn no_version(kind: Kind, name: &str, version: &str) -> Refusal {
        Refusal::NoVersion {
            package: label(kind, name),
            version: version.to_owned(),
        }
    }

    /// A signed pointer that does not fit its move (the protocol's rule,
    /// [`api::check_pointer`]), worded for `kind`/`name`.
    pub fn mismatch(kind: Kind, name: &str, m: PointerMismatch) -> Refusal {
        match m {
            PointerMismatch::Stale { issued, floor } => Refusal::StaleLatest {
                package: label(kind, name),
                issued,
                floor,
            },
            PointerMismatch::Wrong { moves, names } => Refusal::WrongLatest {
                package: label(kind, name),
                moves,
                names,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_refusal_has_its_own_code_and_a_client_error_status() {
        let p = || "run foo".to_owned();
        let v = || "1".to_owned();
        let all = [
            Refusal::Invalid(Invalid::BlobCount),
            Refusal::MissingBlob("x".into()),
            Refusal::NoVersion {
                package: p(),
                version: v(),
            },
            Refusal::VersionExists {
                package: p(),
                version: v(),
            },
            Refusal::Yanked {
                package: p(),
                version: v(),
            },
            Refusal::IsLatest {
                package: p(),
                version: v(),
            },
            Refusal::StaleLatest {
                package: p(),
                issued: 1,
                floor: 2,
            },
            Refusal::WrongLatest {
                package: p(),
                moves: "does not move".into(),
                names: v(),
            },
            Refusal::NumbersUsedUp { package: p() },
            Refusal::Busy {
                package: p(),
                why: "a lease".into(),
            },
        ];
        let mut codes: Vec<&str> = all.iter().map(Refusal::code).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
        assert!(all.iter().all(|r| (400..500).contains(&r.status())));
        // The rule broken is in the message, once, and is no cause besides.
        let invalid = Refusal::Invalid(Invalid::BlobCount);
        assert!(std::error::Error::source(&invalid).is_none());
        assert_eq!(
            invalid.to_string(),
            "invalid publish request: a package has 1 to 100000 blobs"
        );
    }
}
