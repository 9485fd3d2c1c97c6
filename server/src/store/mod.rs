//! Where packages live: blob bytes in a content-addressed [`BlobStore`], packages,
//! versions and pointers in a [`Registry`]. The HTTP layer sees a [`Store`], the two
//! opened together from a [`StoreConfig`], so a backend shared by several server
//! instances (S3-compatible) can replace the embedded one half by half.
//!
//! The traits are synchronous on purpose: SQLite and file I/O block anyway, and the
//! HTTP layer calls them on tokio's blocking pool. Blob bytes are opaque here: they are
//! stored exactly as uploaded (encrypted); checking them is the caller's job.

use std::fmt;
use std::path::PathBuf;

use pyk_crypto::blob::encrypted_len;
use pyk_protocol::api::{LatestPointer, Manifest, PublishRequest};
use pyk_protocol::Kind;

mod blobs;
pub mod embedded;
mod gc;
mod registry;

pub use blobs::{BlobRead, BlobStat, BlobStore, StagedBlob};
pub use gc::GcReport;
pub use registry::{Latest, Registry};

/// Which store a server uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// Everything in one local directory (see [`embedded`]).
    Embedded { path: PathBuf },
}

/// How the banner names the store.
impl fmt::Display for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreConfig::Embedded { path } => write!(f, "{}", path.display()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A publish names a blob that is not stored (or not with that size).
    #[error("blob {0} is not on the server; upload it first")]
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
    /// Another server holds the store.
    #[error("{} is in use by another pyk server", .0.display())]
    InUse(PathBuf),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("the registry's database")]
    Db(#[from] rusqlite::Error),
    #[error("a stored manifest is not valid JSON")]
    Manifest(#[from] serde_json::Error),
    #[error("a stored package kind")]
    Kind(#[from] pyk_protocol::ParseKindError),
    #[error("a store task failed")]
    Task(#[from] tokio::task::JoinError),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// How a package is named in messages: `run foo`.
pub fn label(kind: Kind, name: &str) -> String {
    format!("{} {name}", kind.as_str())
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

/// Checks the signed pointer a change carries against where the change takes `latest`
/// and against `floor`, the newest `issued` the package accepted: a pointer must name
/// the version latest moves to, and be newer. No pointer is an unsigned change, which
/// is the client's to refuse. Every registry calls this inside the change's transaction.
pub fn check_pointer(
    kind: Kind,
    name: &str,
    pointer: Option<&LatestPointer>,
    to: Move<'_>,
    floor: u64,
) -> Result<()> {
    let Some(p) = pointer else { return Ok(()) };
    let moves = match to {
        Move::To(v) if v == p.version => {
            if p.issued <= floor {
                return Err(StoreError::StaleLatest {
                    package: label(kind, name),
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
    Err(StoreError::WrongLatest {
        package: label(kind, name),
        moves,
        names: p.version.clone(),
    })
}

/// A blob store and a registry, used together.
pub struct Store {
    blobs: Box<dyn BlobStore>,
    registry: Box<dyn Registry>,
}

impl Store {
    pub fn new(blobs: Box<dyn BlobStore>, registry: Box<dyn Registry>) -> Store {
        Store { blobs, registry }
    }

    /// Opens (creating if needed) the store `config` names.
    pub fn open(config: &StoreConfig) -> Result<Store> {
        match config {
            StoreConfig::Embedded { path } => embedded::open(path),
        }
    }

    pub fn blobs(&self) -> &(dyn BlobStore + 'static) {
        &*self.blobs
    }

    pub fn registry(&self) -> &(dyn Registry + 'static) {
        &*self.registry
    }

    /// Records a version (see [`Registry::publish`]) once every blob it lists is
    /// stored with the encrypted length its plaintext size implies. The check runs
    /// under the registry's publish lock, which garbage collection also takes, so a
    /// blob seen here cannot be deleted before the version is committed.
    pub fn publish(
        &self,
        kind: Kind,
        name: &str,
        request: &PublishRequest,
        publisher: &str,
        now: u64,
    ) -> Result<Manifest> {
        let blobs_stored = || {
            for blob in &request.blobs {
                let stored = match blob.sha256.parse() {
                    Ok(sha256) => self.blobs.stored_len(&sha256)?,
                    Err(_) => None,
                };
                if stored != Some(encrypted_len(blob.size)) {
                    return Err(StoreError::MissingBlob(blob.sha256.clone()));
                }
            }
            Ok(())
        };
        self.registry
            .publish(kind, name, request, publisher, now, &blobs_stored)
    }
}
