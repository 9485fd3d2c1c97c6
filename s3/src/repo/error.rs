//! What a repository operation on a bucket can refuse or fail with. The refusals are
//! `pyk_registry`'s, the same a server's store gives, so a serverless client words them
//! as a server does.

use pyk_registry::Refusal;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// What any repository refuses (a version string already used, a yanked promote…).
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// An object pyk wrote does not read back as what pyk writes.
    #[error("{key} is not what pyk writes")]
    Damaged {
        key: String,
        #[source]
        source: serde_json::Error,
    },
    #[error(transparent)]
    S3(#[from] crate::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Whether the service could not be reached (so a reader may use what it has).
    pub fn is_network(&self) -> bool {
        matches!(self, Error::S3(e) if e.is_network())
    }

    /// The repository's refusal, if that is what this is.
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            Error::Refused(r) => Some(r),
            _ => None,
        }
    }
}
