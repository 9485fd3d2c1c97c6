//! The store in a bucket of an S3-compatible service, shared by any number of servers
//! (and by serverless clients): the registry is the [`Repo`] itself (it implements
//! `pyk_registry::Registry`), the blob store and the nonce record are views of it;
//! layout, publishing order and concurrency rules are `pyk_s3::repo`'s.
//!
//! Servers keep no state of their own: a server killed at any moment leaves at worst a
//! manifest no index lists (adopted by a retry of the same publish) or an incomplete
//! multipart upload (which the service discards; a bucket lifecycle rule should abort
//! them after a day).

mod blobs;
mod nonces;

use std::sync::Arc;

use pyk_s3::repo::{Mode, ModeSetting, Repo};
use pyk_s3::{Bucket, Location, Settings};

use super::{Result, Store};

/// Opens the repository at `location`: probes (unless told) whether the service honours
/// conditional writes, which decides how concurrent writers are kept apart.
pub fn open(settings: &Settings, location: &Location, mode: ModeSetting) -> Result<Store> {
    let bucket = Bucket::new(settings).map_err(pyk_s3::repo::Error::from)?;
    let repo = Arc::new(Repo::open(bucket, location.clone(), mode)?);
    let how = match repo.mode() {
        Mode::Conditional => {
            "conditional writes: a change is written only if nobody wrote in between"
        }
        Mode::Lease => "the service ignores conditional writes: writers take a per-package lease",
    };
    let description = format!("{location} at {} ({how})", settings.endpoint_url());
    Ok(Store::new(
        Box::new(blobs::S3Blobs(repo.clone())),
        repo.clone(),
        description,
    )
    .with_shared_nonces(Arc::new(nonces::S3Nonces::new(repo))))
}
