//! The registry as index and manifest objects: every change is a conditional rewrite of
//! the package's index (`pyk_s3::repo`), so servers sharing the bucket need no lock.

use std::collections::HashSet;
use std::sync::Arc;

use pyk_protocol::api::{
    LatestPointer, Manifest, NextVersion, PackageSummary, PublishRequest, VersionList,
};
use pyk_protocol::{Kind, Sha256};
use pyk_s3::repo::{Current, Import, Repo};

use crate::store::{GcReport, Latest, PackageRecord, Registry, Result};

pub struct S3Registry(pub Arc<Repo>);

impl Registry for S3Registry {
    fn list(&self) -> Result<Vec<PackageSummary>> {
        Ok(self.0.list()?)
    }

    fn current(&self, kind: Kind, name: &str) -> Result<Latest> {
        Ok(match self.0.current(kind, name)? {
            Current::Manifest(m) => Latest::Manifest(m),
            Current::Unpromoted => Latest::Unpromoted,
            Current::NoPackage => Latest::NoPackage,
        })
    }

    fn version(&self, kind: Kind, name: &str, version: &str) -> Result<Option<Manifest>> {
        Ok(self.0.version(kind, name, version)?)
    }

    fn versions(&self, kind: Kind, name: &str) -> Result<Option<VersionList>> {
        Ok(self.0.versions(kind, name)?)
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
        _blobs_stored: &dyn Fn() -> Result<()>,
    ) -> Result<Manifest> {
        Ok(self.0.publish(kind, name, request, publisher, now)?)
    }

    fn promote(
        &self,
        kind: Kind,
        name: &str,
        version: &str,
        pointer: Option<&LatestPointer>,
    ) -> Result<Manifest> {
        Ok(self.0.promote(kind, name, version, pointer)?)
    }

    fn yank(
        &self,
        kind: Kind,
        name: &str,
        version: &str,
        yanked: bool,
        pointer: Option<&LatestPointer>,
    ) -> Result<Manifest> {
        Ok(self.0.yank(kind, name, version, yanked, pointer)?)
    }

    fn delete_version(
        &self,
        kind: Kind,
        name: &str,
        version: &str,
        force: bool,
        pointer: Option<&LatestPointer>,
    ) -> Result<()> {
        Ok(self.0.delete_version(kind, name, version, force, pointer)?)
    }

    fn next(&self, kind: Kind, name: &str) -> Result<NextVersion> {
        Ok(self.0.next(kind, name)?)
    }

    fn set_localname(&self, kind: Kind, name: &str, localname: &str) -> Result<()> {
        Ok(self.0.set_localname(kind, name, localname)?)
    }

    fn remove(&self, kind: Kind, name: &str) -> Result<bool> {
        Ok(self.0.remove(kind, name)?)
    }

    /// No lock spans the servers: the references are every manifest in the bucket,
    /// and the blob sweep rereads recent ones before deleting.
    fn with_references(
        &self,
        sweep: &mut dyn FnMut(&HashSet<Sha256>) -> Result<GcReport>,
    ) -> Result<GcReport> {
        sweep(&self.0.referenced()?)
    }

    fn packages(&self) -> Result<Vec<(Kind, String)>> {
        Ok(self.0.packages()?)
    }

    fn export(&self, kind: Kind, name: &str) -> Result<PackageRecord> {
        let Some((index, versions)) = self.0.export(kind, name)? else {
            return Ok(PackageRecord {
                versions: Vec::new(),
                latest: None,
                pointer: None,
                floor: 0,
                localname: None,
                used: Vec::new(),
            });
        };
        let mut used = index.used.clone();
        used.sort();
        Ok(PackageRecord {
            versions,
            pointer: index.current_pointer().cloned(),
            floor: index.floor,
            latest: index.latest,
            localname: index.localname,
            used,
        })
    }

    fn import(&self, kind: Kind, name: &str, record: &PackageRecord) -> Result<()> {
        let import = Import {
            versions: &record.versions,
            latest: record.latest.as_deref(),
            pointer: record.pointer.as_ref(),
            floor: record.floor,
            localname: record.localname.as_deref(),
            used: &record.used,
        };
        Ok(self.0.import(kind, name, &import)?)
    }

    /// The ETag of the package's index, which every change replaces.
    fn tag(&self, kind: Kind, name: &str) -> Result<Option<String>> {
        Ok(self.0.tag(kind, name)?)
    }
}
