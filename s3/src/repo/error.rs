//! What a repository operation on a bucket can refuse or fail with. The refusals are the
//! same a server's store gives (a version string already used, a yanked promote…), so
//! the server maps them one to one and a serverless client words them the same way.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A publish request no repository accepts (the server checks requests before its
    /// store sees them; a bucket written directly has only this check).
    #[error("invalid publish request: {0}")]
    Invalid(String),
    #[error("blob {0} is not in the bucket; upload it first")]
    MissingBlob(String),
    #[error("{package} has no version {version}")]
    NoVersion { package: String, version: String },
    #[error("version {version} of {package} already exists")]
    VersionExists { package: String, version: String },
    #[error("version {version} of {package} is yanked; unyank it before promoting it")]
    Yanked { package: String, version: String },
    #[error(
        "version {version} is the latest of {package}; promote another first, or force \
         the delete (latest then moves to the newest version not yanked)"
    )]
    IsLatest { package: String, version: String },
    #[error("{package} has used up automatic version numbers; give a version explicitly")]
    NumbersUsedUp { package: String },
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
        moves: String,
        names: String,
    },
    /// Every attempt lost to another writer (conditional mode), or the lease could not
    /// be had or was lost (lease mode): nothing was changed.
    #[error("{package} is being changed by someone else ({why}); nothing was changed, try again")]
    Busy { package: String, why: String },
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
}
