//! A pyk repository in a bucket: what `pyk serve --store s3://…` keeps, and what a
//! serverless client (`server = "s3://bucket/prefix"`) reads and publishes to directly.
//! Any number of servers and clients may share one.
//!
//! ```text
//! <prefix>/blobs/<sha256>                                encrypted blob, immutable, named by its plaintext's sha256
//! <prefix>/packages/<kind>/<name>/versions/<v>.json      a version's manifest, immutable
//! <prefix>/packages/<kind>/<name>/index.json             latest, yanked flags, local name, publish order, every version string used
//! <prefix>/nonces/<hex>                                  request-token nonces seen (created only if absent)
//! <prefix>/leases/<kind>/<name>                          the package's lease (only where conditional writes are ignored)
//! <prefix>/probe/<id>                                    written and deleted at start, to learn which of the two modes holds
//! ```
//!
//! Publishing writes blobs, then the version's manifest, then the index; a version
//! exists once the index lists it, so a reader never sees one whose manifest or blobs
//! are missing, and a publisher killed at any point leaves the package as it was.
//!
//! Concurrent writers never lose a version nor corrupt `latest`: every change to a
//! package is a read-modify-write of its index, written with `If-Match` (or
//! `If-None-Match: *` for a new package) and retried on conflict ([`Mode::Conditional`]);
//! where the service ignores those conditions the writers take the package's lease
//! first ([`Mode::Lease`], see `lease.rs` for what it guarantees). [`Repo::open`] probes
//! which mode holds.
//!
//! - `index.rs`: the index object; `registry.rs`: reads and the changes to packages;
//!   `store.rs`: the same as a `pyk_registry::Registry`, for the server's S3 store;
//!   `write.rs`: the conditional read-modify-write; `lease.rs`, `probe.rs`.
//! - `blobs.rs`: blob objects, streamed up in parts; `gc.rs`: what no version needs.
//! - `nonces.rs`: single-use request tokens across servers; `records.rs`: whole
//!   packages in and out, for `pyk migrate`.

mod blobs;
mod error;
mod gc;
mod index;
mod lease;
mod nonces;
mod probe;
mod records;
mod registry;
mod store;
mod write;

use std::time::Duration;

use pyk_protocol::{Kind, Sha256};

use crate::{Bucket, Location};

pub use blobs::{BlobUpload, PART};
pub use error::{Error, Result};
pub use index::{Entry, Index};

/// How writers keep out of each other's way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The service honours `If-None-Match: *` and `If-Match` on PUT: every write is
    /// conditional on the state it read, and retried when another came first.
    Conditional,
    /// The service ignores them: writers of a package take its lease first.
    Lease,
}

/// Which [`Mode`] to use: probe the service, or trust the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ModeSetting {
    #[default]
    Probe,
    Force(Mode),
}

/// A repository at one place in one bucket.
pub struct Repo {
    bucket: Bucket,
    location: Location,
    mode: Mode,
    /// This process's name in leases and probes.
    owner: String,
}

impl Repo {
    /// Opens the repository at `location`, probing the service's conditional writes
    /// unless told the mode. Opening writes nothing but the probe (which it deletes).
    pub fn open(bucket: Bucket, location: Location, mode: ModeSetting) -> Result<Repo> {
        let mut repo = Repo {
            bucket,
            location,
            mode: Mode::Conditional,
            owner: format!("{}-{:016x}", std::process::id(), random()),
        };
        repo.mode = match mode {
            ModeSetting::Force(mode) => mode,
            ModeSetting::Probe => repo.probe()?,
        };
        Ok(repo)
    }

    /// Opens the repository for reading only: no probe, no write.
    pub fn reader(bucket: Bucket, location: Location) -> Repo {
        Repo {
            bucket,
            location,
            mode: Mode::Conditional,
            owner: format!("{}-{:016x}", std::process::id(), random()),
        }
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    pub fn location(&self) -> &Location {
        &self.location
    }

    pub fn bucket(&self) -> &Bucket {
        &self.bucket
    }

    fn key(&self, path: &str) -> String {
        self.location.key(path)
    }

    fn package_key(&self, kind: Kind, name: &str) -> String {
        self.key(&format!("packages/{}/{name}", kind.as_str()))
    }

    pub(crate) fn index_key(&self, kind: Kind, name: &str) -> String {
        format!("{}/index.json", self.package_key(kind, name))
    }

    pub(crate) fn version_key(&self, kind: Kind, name: &str, version: &str) -> String {
        format!("{}/versions/{version}.json", self.package_key(kind, name))
    }

    pub fn blob_key(&self, sha256: &Sha256) -> String {
        self.key(&format!("blobs/{sha256}"))
    }
}

/// A random number, for names and jitter: std's hasher keys are random per process and
/// change with every `RandomState`, which is all the randomness this needs.
pub(crate) fn random() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}

/// A pause of `base` plus up to as much again at random, so writers that collided do
/// not collide again in step.
pub(crate) fn jitter(base: Duration) -> Duration {
    let extra = random() % (base.as_micros().max(1) as u64);
    base + Duration::from_micros(extra)
}
