//! Where packages live: blob bytes in a content-addressed [`BlobStore`], packages,
//! versions and pointers in a [`Registry`] (`pyk_registry`'s, which the bucket
//! implements too). The HTTP layer sees a [`Store`], the two
//! opened together from a [`StoreConfig`]: the embedded store (one directory, one
//! server) or an S3-compatible bucket that any number of servers share ([`s3`]).
//!
//! The traits are synchronous on purpose: SQLite and file I/O block anyway, and the
//! HTTP layer calls them on tokio's blocking pool. Blob bytes are opaque here: they are
//! stored exactly as uploaded (encrypted); checking them is the caller's job.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use pyk_crypto::blob::encrypted_len;
pub use pyk_protocol::api::Move;
use pyk_protocol::api::{self, LatestPointer, Manifest, PublishRequest};
use pyk_protocol::Kind;
pub use pyk_registry::{label, stored_form, GcReport, Latest, PackageRecord, Refusal, Registry};

use crate::nonces::Nonces;

mod blobs;
pub mod embedded;
mod gc;
pub mod migrate;
pub mod s3;

pub use blobs::{BlobRead, BlobStat, BlobStore, StagedBlob};

/// Which store a server uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// Everything in one local directory (see [`embedded`]).
    Embedded { path: PathBuf },
    /// A place in a bucket of an S3-compatible service (see [`s3`]).
    S3 {
        settings: pyk_s3::Settings,
        location: pyk_s3::Location,
        mode: pyk_s3::repo::ModeSetting,
    },
}

/// How messages name the store.
impl fmt::Display for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreConfig::Embedded { path } => write!(f, "{}", path.display()),
            StoreConfig::S3 {
                settings, location, ..
            } => write!(f, "{location} at {}", settings.endpoint_url()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// What any repository refuses (`pyk_registry` words them, and gives each its
    /// status and code).
    #[error(transparent)]
    Refused(#[from] Refusal),
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
    /// The bucket could not be read or written, or holds what pyk did not write.
    #[error("the S3 store")]
    S3(#[source] pyk_s3::repo::Error),
}

/// A bucket's refusal is the refusal itself; anything else is the S3 store's failure.
impl From<pyk_s3::repo::Error> for StoreError {
    fn from(e: pyk_s3::repo::Error) -> StoreError {
        match e {
            pyk_s3::repo::Error::Refused(r) => StoreError::Refused(r),
            other => StoreError::S3(other),
        }
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Checks the signed pointer a change carries against where the change takes `latest`
/// and against `floor` (the rule is the protocol's, [`api::check_pointer`]). Every
/// registry calls this inside the change's transaction.
pub fn check_pointer(
    kind: Kind,
    name: &str,
    pointer: Option<&LatestPointer>,
    to: Move<'_>,
    floor: u64,
) -> Result<()> {
    api::check_pointer(pointer, to, floor).map_err(|m| Refusal::mismatch(kind, name, m).into())
}

/// A blob store and a registry, used together.
pub struct Store {
    blobs: Box<dyn BlobStore>,
    registry: Arc<dyn Registry<StoreError>>,
    /// How the server's banner names it, and what it guarantees.
    description: String,
    /// Where the servers sharing this store record the nonces of write tokens.
    shared_nonces: Option<Arc<dyn Nonces>>,
}

impl Store {
    pub fn new(
        blobs: Box<dyn BlobStore>,
        registry: Arc<dyn Registry<StoreError>>,
        description: String,
    ) -> Store {
        Store {
            blobs,
            registry,
            description,
            shared_nonces: None,
        }
    }

    /// A store several servers share keeps the nonces of write tokens, so that each
    /// write token is good at one server once.
    pub fn with_shared_nonces(mut self, nonces: Arc<dyn Nonces>) -> Store {
        self.shared_nonces = Some(nonces);
        self
    }

    /// The shared nonce record, if servers share this store.
    pub fn shared_nonces(&self) -> Option<Arc<dyn Nonces>> {
        self.shared_nonces.clone()
    }

    /// Opens (creating if needed) the store `config` names.
    pub fn open(config: &StoreConfig) -> Result<Store> {
        match config {
            StoreConfig::Embedded { path } => embedded::open(path),
            StoreConfig::S3 {
                settings,
                location,
                mode,
            } => s3::open(settings, location, *mode),
        }
    }

    /// The store and, for a shared one, how concurrent writers are kept apart.
    pub fn description(&self) -> &str {
        &self.description
    }

    pub fn blobs(&self) -> &(dyn BlobStore + 'static) {
        &*self.blobs
    }

    pub fn registry(&self) -> &(dyn Registry<StoreError> + 'static) {
        &*self.registry
    }

    /// Fails if either half cannot be reached now: the registry is asked for a tag (a
    /// database query, or one HEAD in the bucket) and the blob store checked.
    pub fn check(&self) -> Result<()> {
        self.registry.tag(Kind::Run, "healthz")?;
        self.blobs.check()
    }

    /// Records a version (see [`Registry::publish`]) once every blob it lists (its API
    /// tree's included) is
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
            for blob in request.blobs.iter().chain(&request.api) {
                let stored = match blob.sha256.parse() {
                    Ok(sha256) => self.blobs.stored_len(&sha256)?,
                    Err(_) => None,
                };
                if stored != Some(encrypted_len(blob.size)) {
                    return Err(Refusal::MissingBlob(blob.sha256.clone()).into());
                }
            }
            Ok(())
        };
        self.registry
            .publish(kind, name, request, publisher, now, &blobs_stored)
    }
}
