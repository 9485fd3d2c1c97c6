//! The second transport: a repository read (and, with write credentials, written)
//! straight from an S3-compatible bucket, with no server in between, laid out as
//! `pyk_s3::repo` says, which is also what `pyk serve --store s3://…` keeps. The calls
//! and their checks are the HTTP transport's: manifests are checked against what was
//! asked for, blobs are decrypted with the read key and hashed as they stream, and
//! failures are the same [`Error`] variants (the network's, so the runner falls back to
//! its cache; "not found"). A refusal is the repository's own (`pyk_registry`'s, the
//! one a server answers with), kept as it is in [`Error::Refusal`], not dressed up as
//! an HTTP answer.
//!
//! What a bucket cannot give is a server's word: anyone holding the bucket's write
//! credentials and the repository key can put a manifest there. Publisher signatures
//! are what make a manifest read here trustworthy: a signing publisher signs what it
//! writes here as it signs what it sends a server (the same statements, the same
//! pointers, kept in the manifest and the index), and readers check them with
//! [`crate::Trust`] whichever transport brought the manifest.

use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pyk_crypto::blob::encrypted_len;
use pyk_crypto::Key;
use pyk_protocol::api::{
    self, GcResponse, LatestPointer, Manifest, NextVersion, PackageSummary, PublishRequest,
    PublishResponse, VersionList,
};
use pyk_protocol::{PackageRef, Sha256};
use pyk_registry::{label, Refusal, Retention};
use pyk_s3::repo::{self, ModeSetting, Repo};
use pyk_s3::{Bucket, Location};
use tempfile::NamedTempFile;

use crate::blobs::{receive_blob, send_encrypted, Source};
use crate::packages::checked;
use crate::{Error, Progress};

/// How often `watch` looks at the bucket: as often as a server revalidates.
const WATCH_EVERY: Duration = Duration::from_secs(1);

pub(crate) struct Serverless {
    /// Reads need no probe.
    reader: Repo,
    /// Opened (with its probe) at the first write.
    writer: OnceLock<Repo>,
    bucket: Bucket,
    location: Location,
    /// How messages name the repository: `s3://bucket/prefix`.
    name: String,
    mode: ModeSetting,
    key: Key,
    /// This machine's name, recorded as the publisher.
    node: String,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Serverless {
    pub(crate) fn new(
        bucket: Bucket,
        location: Location,
        mode: ModeSetting,
        key: &Key,
        node: &str,
    ) -> Serverless {
        Serverless {
            reader: Repo::reader(bucket.clone(), location.clone()),
            writer: OnceLock::new(),
            bucket,
            name: location.to_string(),
            location,
            mode,
            key: key.clone(),
            node: node.to_owned(),
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    fn writer(&self) -> Result<&Repo, Error> {
        if let Some(repo) = self.writer.get() {
            return Ok(repo);
        }
        let repo = Repo::open(self.bucket.clone(), self.location.clone(), self.mode)
            .map_err(|e| self.failed("writing", e))?;
        Ok(self.writer.get_or_init(|| repo))
    }

    /// What the bucket said: a repository's refusal about `what` (worded by
    /// `pyk_registry`, as a server's is), or the bucket's failure.
    fn failed(&self, what: &str, e: repo::Error) -> Error {
        match e {
            repo::Error::Refused(refusal) => Error::Refusal {
                server: self.name.clone(),
                what: what.to_owned(),
                refusal,
            },
            other => Error::Bucket {
                location: self.name.clone(),
                source: Box::new(other),
            },
        }
    }

    /// A manifest from the bucket, checked as a server's answer is.
    fn manifest(
        &self,
        m: Manifest,
        package: &PackageRef,
        version: Option<&str>,
    ) -> Result<Manifest, Error> {
        // Shape only, like a server's answer: who signed it is for `Trust`, which the
        // runner and the package cache ask before anything runs or imports.
        checked(m, package, version, &self.name)
    }

    /// One GET when nothing changed: the index names the latest version and its
    /// artifact's hash, which is all an ETag is; the manifest is read only when it is
    /// news.
    pub(crate) fn current(
        &self,
        package: &PackageRef,
        etag: Option<&str>,
    ) -> Result<Option<Manifest>, Error> {
        let what = package.to_string();
        let (kind, name) = (package.kind(), package.name());
        let failed = |e| self.failed(&what, e);
        let Some(index) = self.reader.index(kind, name).map_err(failed)? else {
            return Err(self.no_package(package));
        };
        let Some(entry) = index.latest.as_deref().and_then(|v| index.entry(v)) else {
            if !index.exists() {
                return Err(self.no_package(package));
            }
            return Err(Error::NotFound {
                server: self.name.clone(),
                message: format!("{} has no promoted version", label(kind, name)),
            });
        };
        // As a server answers: the ETag names the bytes; a yanked version is news.
        let unchanged = api::etag(&entry.info.artifact_sha256, &entry.info.version);
        if etag == Some(unchanged.as_str()) && !entry.info.yanked {
            return Ok(None);
        }
        // Deleted since the index was read: as if it were never promoted.
        let mut m = self
            .reader
            .compose(kind, name, &index, entry)
            .map_err(failed)?
            .ok_or_else(|| Error::NotFound {
                server: self.name.clone(),
                message: format!("{} has no promoted version", label(kind, name)),
            })?;
        // The signed move that made it the latest, which readers check.
        m.latest = index.current_pointer().cloned();
        self.manifest(m, package, None).map(Some)
    }

    fn no_package(&self, package: &PackageRef) -> Error {
        Error::NotFound {
            server: self.name.clone(),
            message: format!("no package {}/{}", package.kind(), package.name()),
        }
    }

    pub(crate) fn version(
        &self,
        package: &PackageRef,
        version: &str,
        etag: Option<&str>,
    ) -> Result<Option<Manifest>, Error> {
        let what = format!("version {version} of {package}");
        let found = self
            .reader
            .version(package.kind(), package.name(), version)
            .map_err(|e| self.failed(&what, e))?;
        let Some(m) = found else {
            return Err(Error::NotFound {
                server: self.name.clone(),
                message: format!(
                    "{} has no version {version}",
                    label(package.kind(), package.name())
                ),
            });
        };
        let m = self.manifest(m, package, Some(version))?;
        if etag == Some(m.etag().as_str()) && !m.yanked {
            return Ok(None);
        }
        Ok(Some(m))
    }

    pub(crate) fn versions(&self, package: &PackageRef) -> Result<VersionList, Error> {
        self.reader
            .versions(package.kind(), package.name())
            .map_err(|e| self.failed(&package.to_string(), e))?
            .ok_or_else(|| self.no_package(package))
    }

    pub(crate) fn list(&self) -> Result<Vec<PackageSummary>, Error> {
        self.reader
            .list()
            .map_err(|e| self.failed("the package list", e))
    }

    /// Looks at the bucket every [`WATCH_EVERY`] until `latest` is not `after`.
    pub(crate) fn watch(
        &self,
        package: &PackageRef,
        after: &str,
        secs: u64,
    ) -> Result<Option<Manifest>, Error> {
        let until = Instant::now() + Duration::from_secs(secs);
        loop {
            match self.current(package, None) {
                Ok(Some(m)) if m.version != after => return Ok(Some(m)),
                Ok(_) | Err(Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
            if Instant::now() + WATCH_EVERY > until {
                return Ok(None);
            }
            std::thread::sleep(WATCH_EVERY);
        }
    }

    pub(crate) fn publish(
        &self,
        package: &PackageRef,
        request: &PublishRequest,
    ) -> Result<PublishResponse, Error> {
        let what = format!("publishing {package}");
        let manifest = self
            .writer()?
            .publish(package.kind(), package.name(), request, &self.node, now())
            .map_err(|e| self.failed(&what, e))?;
        Ok(PublishResponse {
            version: manifest.version.clone(),
            manifest,
        })
    }

    /// What a signer needs first (see `Client::next`).
    pub(crate) fn next(&self, package: &PackageRef) -> Result<NextVersion, Error> {
        self.reader
            .next(package.kind(), package.name())
            .map_err(|e| self.failed(&package.to_string(), e))
    }

    pub(crate) fn promote(
        &self,
        package: &PackageRef,
        version: &str,
        pointer: Option<&LatestPointer>,
    ) -> Result<Manifest, Error> {
        let what = format!("version {version} of {package}");
        self.writer()?
            .promote(package.kind(), package.name(), version, pointer)
            .map_err(|e| self.failed(&what, e))
    }

    pub(crate) fn yank(
        &self,
        package: &PackageRef,
        version: &str,
        yanked: bool,
        pointer: Option<&LatestPointer>,
    ) -> Result<Manifest, Error> {
        let what = format!("version {version} of {package}");
        self.writer()?
            .yank(package.kind(), package.name(), version, yanked, pointer)
            .map_err(|e| self.failed(&what, e))
    }

    pub(crate) fn remove(&self, package: &PackageRef) -> Result<(), Error> {
        let removed = self
            .writer()?
            .remove(package.kind(), package.name())
            .map_err(|e| self.failed(&package.to_string(), e))?;
        if removed {
            Ok(())
        } else {
            Err(self.no_package(package))
        }
    }

    pub(crate) fn remove_version(
        &self,
        package: &PackageRef,
        version: &str,
        force: bool,
        pointer: Option<&LatestPointer>,
    ) -> Result<(), Error> {
        let what = format!("version {version} of {package}");
        self.writer()?
            .delete_version(package.kind(), package.name(), version, force, pointer)
            .map_err(|e| self.failed(&what, e))
    }

    /// Applies `retention` as a server's `POST /v1/gc` does: the versions it lets go are
    /// deleted one by one (never `latest`: one promoted since the plan is refused and
    /// kept), then the blobs no manifest names and older than `grace` go. Dry, it only
    /// plans, with the reader.
    pub(crate) fn collect(
        &self,
        retention: &Retention,
        grace: Duration,
        dry_run: bool,
    ) -> Result<GcResponse, Error> {
        let repo = if dry_run {
            &self.reader
        } else {
            self.writer()?
        };
        let plan = retention
            .plan::<repo::Error>(repo, now())
            .map_err(|e| self.failed("the retention plan", e))?;
        let mut answer = GcResponse {
            dry_run,
            ..GcResponse::default()
        };
        if dry_run {
            answer.removed = plan;
            return Ok(answer);
        }
        for v in plan {
            match repo.delete_version(v.kind, &v.name, &v.version, false, None) {
                Ok(()) => answer.removed.push(v),
                // Promoted or deleted by someone else meanwhile: not ours to remove.
                Err(repo::Error::Refused(Refusal::IsLatest { .. } | Refusal::NoVersion { .. })) => {
                }
                Err(e) => {
                    let what = format!("version {} of {} {}", v.version, v.kind, v.name);
                    return Err(self.failed(&what, e));
                }
            }
        }
        let report = repo
            .referenced()
            .and_then(|keep| repo.sweep(&keep, grace))
            .map_err(|e| self.failed("garbage collection", e))?;
        answer.blobs = report.blobs;
        answer.bytes = report.bytes;
        Ok(answer)
    }

    pub(crate) fn set_localname(&self, package: &PackageRef, localname: &str) -> Result<(), Error> {
        self.writer()?
            .set_localname(package.kind(), package.name(), localname)
            .map_err(|e| self.failed(&package.to_string(), e))
    }

    pub(crate) fn has_blob(&self, sha256: &Sha256) -> Result<bool, Error> {
        self.reader
            .blob_len(sha256)
            .map(|len| len.is_some())
            .map_err(|e| self.failed(&format!("blob {sha256}"), e))
    }

    pub(crate) fn download_blob_temp(
        &self,
        sha256: &Sha256,
        size: u64,
        dir: &Path,
        progress: &dyn Progress,
    ) -> Result<NamedTempFile, Error> {
        let what = format!("blob {sha256}");
        let body = self
            .reader
            .open_blob(sha256)
            .map_err(|e| self.failed(&what, e))?
            .ok_or_else(|| Error::NotFound {
                server: self.name.clone(),
                message: format!("no blob {sha256}"),
            })?;
        let from = Source {
            server: &self.name,
            what: &what,
            deadline: None,
        };
        receive_blob(&self.key, body, sha256, size, dir, progress, from)
    }

    /// Encrypts and streams the blob in one PUT of its known encrypted length.
    pub(crate) fn upload_blob(
        &self,
        sha256: &Sha256,
        file: &Path,
        offset: u64,
        len: u64,
        progress: &dyn Progress,
    ) -> Result<(), Error> {
        let what = format!("upload of blob {sha256}");
        let repo = self.writer()?;
        let (sent, encrypted) = send_encrypted(&self.key, file, offset, len, progress, |rx| {
            repo.put_blob(sha256, rx, encrypted_len(len))
        })?;
        sent.map_err(|e| self.failed(&what, e))?;
        encrypted.map_err(|e| Error::io(format!("read {}", file.display()), e))
    }
}
