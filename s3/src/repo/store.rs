//! The bucket as a [`Registry`]: what `pyk serve --store s3://…` holds its packages in,
//! with no layer of its own in between. Every change is already a conditional rewrite
//! of the package's index ([`Repo::mutate`]), so servers sharing the bucket need no
//! lock; `E` is the server's store error, which this crate's errors convert into.

use std::collections::HashSet;

use pyk_protocol::api::{
    LatestPointer, Manifest, NextVersion, PackageSummary, PublishRequest, VersionList,
};
use pyk_protocol::{Kind, Sha256};
use pyk_registry::{GcReport, Latest, PackageRecord, Registry};

use super::{Error, Repo};

impl<E: From<Error>> Registry<E> for Repo {
    fn list(&self) -> Result<Vec<PackageSummary>, E> {
        Ok(Repo::list(self)?)
    }

    fn current(&self, kind: Kind, name: &str) -> Result<Latest, E> {
        Ok(Repo::current(self, kind, name)?)
    }

    fn version(&self, kind: Kind, name: &str, version: &str) -> Result<Option<Manifest>, E> {
        Ok(Repo::version(self, kind, name, version)?)
    }

    fn versions(&self, kind: Kind, name: &str) -> Result<Option<VersionList>, E> {
        Ok(Repo::versions(self, kind, name)?)
    }

    /// The bucket checks its own blobs, after writing the version's manifest and not
    /// before (so garbage collection spares them): `blobs_stored` is not needed.
    fn publish(
        &self,
        kind: Kind,
        name: &str,
        request: &PublishRequest,
        publisher: &str,
        now: u64,
        _blobs_stored: &dyn Fn() -> Result<(), E>,
    ) -> Result<Manifest, E> {
        Ok(Repo::publish(self, kind, name, request, publisher, now)?)
    }

    fn promote(
        &self,
        kind: Kind,
        name: &str,
        version: &str,
        pointer: Option<&LatestPointer>,
    ) -> Result<Manifest, E> {
        Ok(Repo::promote(self, kind, name, version, pointer)?)
    }

    fn yank(
        &self,
        kind: Kind,
        name: &str,
        version: &str,
        yanked: bool,
        pointer: Option<&LatestPointer>,
    ) -> Result<Manifest, E> {
        Ok(Repo::yank(self, kind, name, version, yanked, pointer)?)
    }

    fn delete_version(
        &self,
        kind: Kind,
        name: &str,
        version: &str,
        force: bool,
        pointer: Option<&LatestPointer>,
    ) -> Result<(), E> {
        Ok(Repo::delete_version(
            self, kind, name, version, force, pointer,
        )?)
    }

    fn next(&self, kind: Kind, name: &str) -> Result<NextVersion, E> {
        Ok(Repo::next(self, kind, name)?)
    }

    fn set_localname(&self, kind: Kind, name: &str, localname: &str) -> Result<(), E> {
        Ok(Repo::set_localname(self, kind, name, localname)?)
    }

    fn remove(&self, kind: Kind, name: &str) -> Result<bool, E> {
        Ok(Repo::remove(self, kind, name)?)
    }

    /// No lock spans the servers: the references are every manifest in the bucket,
    /// and the blob sweep rereads recent ones before deleting.
    fn with_references(
        &self,
        sweep: &mut dyn FnMut(&HashSet<Sha256>) -> Result<GcReport, E>,
    ) -> Result<GcReport, E> {
        sweep(&self.referenced()?)
    }

    fn packages(&self) -> Result<Vec<(Kind, String)>, E> {
        Ok(Repo::packages(self)?)
    }

    fn export(&self, kind: Kind, name: &str) -> Result<PackageRecord, E> {
        Ok(Repo::export(self, kind, name)?)
    }

    fn import(&self, kind: Kind, name: &str, record: &PackageRecord) -> Result<(), E> {
        Ok(Repo::import(self, kind, name, record)?)
    }

    /// The ETag of the package's index, which every change replaces.
    fn tag(&self, kind: Kind, name: &str) -> Result<Option<String>, E> {
        Ok(Repo::tag(self, kind, name)?)
    }
}
