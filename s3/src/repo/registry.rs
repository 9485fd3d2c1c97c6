//! Packages in the bucket: the reads a runner and `pyk versions` make, and every change
//! (publish, promote, yank, delete, local name, remove) as one conditional rewrite of
//! the package's index ([`Repo::mutate`]).

use pyk_crypto::blob::encrypted_len;
use pyk_protocol::api::{
    LatestPointer, Manifest, Move, NextVersion, PackageSummary, PublishRequest, VersionInfo,
    VersionList,
};
use pyk_protocol::{Kind, Sha256};
use pyk_registry::{check_publish, label, Latest, Refusal};

use super::index::Entry;
use super::{Error, Index, Repo, Result};
use crate::Fetched;

/// The entry `versions` and `list` show for a version.
pub(crate) fn info_of(m: &Manifest) -> VersionInfo {
    VersionInfo::of(m, m.yanked)
}

/// Whether stored metadata describes the same bytes a publish asks for, signed alike:
/// then it is this publish's own from an attempt that lost a race (or an identical
/// publish), and is taken as it is.
fn same_bytes(m: &Manifest, r: &PublishRequest) -> bool {
    m.signature == r.signature
        && m.artifact_sha256 == r.artifact_sha256
        && m.size == r.size
        && m.python == r.python
        && m.blobs == r.blobs
        && m.format == r.format
        && m.executable == r.executable
        && m.api == r.api
        && m.platforms == r.platforms
}

impl Repo {
    /// The ETag of the package's index, which every change replaces: what a cache
    /// revalidates with (one HEAD). `None` when the package never had one.
    pub fn tag(&self, kind: Kind, name: &str) -> Result<Option<String>> {
        Ok(self
            .bucket
            .head(&self.index_key(kind, name))?
            .map(|i| i.etag))
    }

    /// The package's index, as stored.
    pub fn index(&self, kind: Kind, name: &str) -> Result<Option<Index>> {
        Ok(self.read_index(kind, name)?.map(|(index, _)| index))
    }

    /// A version's stored manifest (immutable fields only).
    pub(crate) fn stored_manifest(
        &self,
        kind: Kind,
        name: &str,
        version: &str,
    ) -> Result<Option<Manifest>> {
        let key = self.version_key(kind, name, version);
        match self.bucket.get_bytes(&key, None)? {
            Fetched::Found { bytes, .. } => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|source| Error::Damaged { key, source }),
            Fetched::Missing | Fetched::NotModified => Ok(None),
        }
    }

    /// The manifest of a version the index lists, with the index's yanked flag and
    /// local name. A version deleted between reading the index and its manifest reads
    /// as absent.
    pub fn compose(
        &self,
        kind: Kind,
        name: &str,
        index: &Index,
        entry: &Entry,
    ) -> Result<Option<Manifest>> {
        let Some(mut m) = self.stored_manifest(kind, name, &entry.info.version)? else {
            return Ok(None);
        };
        m.yanked = entry.info.yanked;
        m.localname = index.localname.clone();
        Ok(Some(m))
    }

    /// The manifest `latest` points at.
    pub fn current(&self, kind: Kind, name: &str) -> Result<Latest> {
        // Twice at most: a delete may land between the two reads.
        for _ in 0..2 {
            let Some(index) = self.index(kind, name)? else {
                return Ok(Latest::NoPackage);
            };
            let entry = index
                .latest
                .as_deref()
                .and_then(|latest| index.entry(latest));
            match entry {
                Some(entry) => {
                    if let Some(mut m) = self.compose(kind, name, &index, entry)? {
                        m.latest = index.current_pointer().cloned();
                        return Ok(Latest::Manifest(Box::new(m)));
                    }
                }
                None if index.exists() => return Ok(Latest::Unpromoted),
                None => return Ok(Latest::NoPackage),
            }
        }
        Ok(Latest::Unpromoted)
    }

    /// One version's manifest, yanked or not.
    pub fn version(&self, kind: Kind, name: &str, version: &str) -> Result<Option<Manifest>> {
        let Some(index) = self.index(kind, name)? else {
            return Ok(None);
        };
        match index.entry(version) {
            Some(entry) => self.compose(kind, name, &index, entry),
            None => Ok(None),
        }
    }

    /// Every version of a package; `None` if there is no such package.
    pub fn versions(&self, kind: Kind, name: &str) -> Result<Option<VersionList>> {
        let Some(index) = self.index(kind, name)?.filter(Index::exists) else {
            return Ok(None);
        };
        Ok(Some(VersionList {
            latest: index.latest.clone(),
            localname: index.localname.clone(),
            versions: index.versions.into_iter().map(|e| e.info).collect(),
        }))
    }

    /// The names of every package of a kind that has an index.
    pub fn names(&self, kind: Kind) -> Result<Vec<String>> {
        let dir = self.key(&format!("packages/{}/", kind.as_str()));
        let listing = self.bucket.list(&dir, Some("/"))?;
        Ok(listing
            .prefixes
            .iter()
            .filter_map(|p| p.strip_prefix(&dir)?.strip_suffix('/'))
            .map(str::to_owned)
            .collect())
    }

    /// Every package that has a version, with its latest (one read per package).
    pub fn list(&self) -> Result<Vec<PackageSummary>> {
        let mut out = Vec::new();
        for kind in [Kind::Run, Kind::Lib] {
            for name in self.names(kind)? {
                let Some(index) = self.index(kind, &name)? else {
                    continue;
                };
                if index.versions.is_empty() {
                    continue;
                }
                let latest = index.latest.as_deref().and_then(|v| index.entry(v));
                out.push(match latest {
                    Some(e) => PackageSummary {
                        kind,
                        name,
                        version: e.info.version.clone(),
                        size: e.info.size,
                        published: e.info.published,
                        publisher: e.info.publisher.clone(),
                    },
                    None => PackageSummary {
                        kind,
                        name,
                        version: String::new(),
                        size: 0,
                        published: 0,
                        publisher: String::new(),
                    },
                });
            }
        }
        Ok(out)
    }

    /// Checks that every blob a publish lists is stored with the encrypted length its
    /// plaintext size implies.
    fn check_blobs(&self, request: &PublishRequest) -> Result<()> {
        for blob in request.blobs.iter().chain(&request.api) {
            let stored = match blob.sha256.parse::<Sha256>() {
                Ok(sha) => self.bucket.head(&self.blob_key(&sha))?.map(|i| i.len),
                Err(_) => None,
            };
            if stored != Some(encrypted_len(blob.size)) {
                return Err(Refusal::MissingBlob(blob.sha256.clone()).into());
            }
        }
        Ok(())
    }

    /// Records a new version (the request already validated) and, if asked, makes it
    /// the latest. Its manifest is written first, then its blobs are checked (after, so
    /// that garbage collection, which spares blobs any manifest names, cannot take one
    /// from under it), then the index lists it.
    pub fn publish(
        &self,
        kind: Kind,
        name: &str,
        request: &PublishRequest,
        publisher: &str,
        now: u64,
    ) -> Result<Manifest> {
        check_publish(request).map_err(Refusal::from)?;
        let automatic = request.version.is_none();
        // The automatic number whose manifest this publish created: when the index
        // write then loses a race and the number is no longer the next, the manifest is
        // deleted (unless the index lists it: an identical publish adopted it).
        let mut claimed: Option<String> = None;
        // Automatic numbers whose manifest another publisher holds.
        let mut taken: Vec<String> = Vec::new();
        self.mutate(kind, name, |index| {
            if let Some(lost) = claimed.clone() {
                if index.next_number(&taken).as_deref() != Some(lost.as_str()) {
                    claimed = None;
                    if !index.used(&lost) {
                        self.bucket.delete(&self.version_key(kind, name, &lost))?;
                    }
                }
            }
            loop {
                let version = match &request.version {
                    Some(v) if index.used(v) => {
                        return Err(Refusal::VersionExists {
                            package: label(kind, name),
                            version: v.clone(),
                        }
                        .into())
                    }
                    Some(v) => v.clone(),
                    None => index
                        .next_number(&taken)
                        .ok_or_else(|| Refusal::NumbersUsedUp {
                            package: label(kind, name),
                        })?,
                };
                let mut manifest = request.manifest(kind, name, version.clone(), publisher, now);
                let key = self.version_key(kind, name, &version);
                let body = serde_json::to_vec(&manifest).expect("a manifest always serializes");
                let created = self.create(&key, &body)?;
                if !created {
                    match self.stored_manifest(kind, name, &version)? {
                        Some(existing) if same_bytes(&existing, request) => manifest = existing,
                        _ if automatic => {
                            taken.push(version);
                            continue;
                        }
                        _ => {
                            return Err(Refusal::VersionExists {
                                package: label(kind, name),
                                version,
                            }
                            .into())
                        }
                    }
                }
                if let Err(e) = self.check_blobs(request) {
                    if created {
                        self.bucket.delete(&key)?;
                    }
                    return Err(e);
                }
                if created && automatic {
                    claimed = Some(version.clone());
                }
                let to = if request.promote {
                    Move::To(&version)
                } else {
                    Move::Stays
                };
                let pointer = request.latest.as_ref();
                index.last_seq += 1;
                index.used.push(version.clone());
                index.versions.push(Entry {
                    seq: index.last_seq,
                    info: info_of(&manifest),
                });
                index
                    .move_latest(to, pointer)
                    .map_err(|m| Refusal::mismatch(kind, name, m))?;
                if request.promote {
                    manifest.latest = pointer.cloned();
                }
                manifest.localname = index.localname.clone();
                return Ok(manifest);
            }
        })
    }

    /// Points `latest` at an existing version that is not yanked; `pointer` (a signed
    /// move) must name it.
    pub fn promote(
        &self,
        kind: Kind,
        name: &str,
        version: &str,
        pointer: Option<&LatestPointer>,
    ) -> Result<Manifest> {
        let index = self.mutate(kind, name, |index| {
            match index.entry(version) {
                None => return Err(Refusal::no_version(kind, name, version).into()),
                Some(e) if e.info.yanked => {
                    return Err(Refusal::Yanked {
                        package: label(kind, name),
                        version: version.to_owned(),
                    }
                    .into())
                }
                Some(_) => {}
            }
            index
                .move_latest(Move::To(version), pointer)
                .map_err(|m| Refusal::mismatch(kind, name, m))?;
            Ok(index.clone())
        })?;
        let mut m = self.manifest_of(kind, name, &index, version)?;
        m.latest = pointer.cloned();
        Ok(m)
    }

    /// Sets or clears a version's yanked flag; yanking the latest moves `latest` to the
    /// newest version left that is not yanked (which `pointer` must name), or to none.
    pub fn yank(
        &self,
        kind: Kind,
        name: &str,
        version: &str,
        yanked: bool,
        pointer: Option<&LatestPointer>,
    ) -> Result<Manifest> {
        let index = self.mutate(kind, name, |index| {
            let entry = index
                .entry_mut(version)
                .ok_or_else(|| Refusal::no_version(kind, name, version))?;
            entry.info.yanked = yanked;
            let to = if yanked && index.latest.as_deref() == Some(version) {
                owned(index.fall_back(version))
            } else {
                None
            };
            index
                .move_latest(moved(&to), pointer)
                .map_err(|m| Refusal::mismatch(kind, name, m))?;
            Ok(index.clone())
        })?;
        self.manifest_of(kind, name, &index, version)
    }

    /// The manifest of `version` as `index` (just written) describes it.
    fn manifest_of(
        &self,
        kind: Kind,
        name: &str,
        index: &Index,
        version: &str,
    ) -> Result<Manifest> {
        let entry = index
            .entry(version)
            .ok_or_else(|| Refusal::no_version(kind, name, version))?;
        Ok(self
            .compose(kind, name, index, entry)?
            .ok_or_else(|| Refusal::no_version(kind, name, version))?)
    }

    /// Deletes one version (its string stays used); refused for the latest unless
    /// `force`, which moves `latest` as a yank does (`pointer` must name where). The
    /// manifest object goes after the index no longer lists it.
    pub fn delete_version(
        &self,
        kind: Kind,
        name: &str,
        version: &str,
        force: bool,
        pointer: Option<&LatestPointer>,
    ) -> Result<()> {
        self.mutate(kind, name, |index| {
            if index.entry(version).is_none() {
                return Err(Refusal::no_version(kind, name, version).into());
            }
            let mut to = None;
            if index.latest.as_deref() == Some(version) {
                if !force {
                    return Err(Refusal::IsLatest {
                        package: label(kind, name),
                        version: version.to_owned(),
                    }
                    .into());
                }
                to = owned(index.fall_back(version));
            }
            index
                .move_latest(moved(&to), pointer)
                .map_err(|m| Refusal::mismatch(kind, name, m))?;
            index.versions.retain(|e| e.info.version != version);
            Ok(())
        })?;
        self.bucket.delete(&self.version_key(kind, name, version))?;
        Ok(())
    }

    /// The automatic version a publish would get now, and the newest `issued` of a
    /// pointer the package accepted: what a signer needs first.
    pub fn next(&self, kind: Kind, name: &str) -> Result<NextVersion> {
        let index = self.index(kind, name)?.unwrap_or_default();
        Ok(NextVersion {
            version: index
                .next_number(&[])
                .ok_or_else(|| Refusal::NumbersUsedUp {
                    package: label(kind, name),
                })?,
            latest_issued: index.floor,
        })
    }

    /// Sets the package's local file name (already validated), creating the package
    /// if it has no version yet.
    pub fn set_localname(&self, kind: Kind, name: &str, localname: &str) -> Result<()> {
        self.mutate(kind, name, |index| {
            index.localname = Some(localname.to_owned());
            Ok(())
        })
    }

    /// Removes every version and the local name; false if there was neither. The index
    /// stays, empty but for the version strings used, which stay used.
    pub fn remove(&self, kind: Kind, name: &str) -> Result<bool> {
        if self.index(kind, name)?.is_none_or(|i| !i.exists()) {
            return Ok(false);
        }
        let gone = self.mutate(kind, name, |index| {
            let gone: Vec<String> = index
                .versions
                .iter()
                .map(|e| e.info.version.clone())
                .collect();
            let existed = index.exists();
            index.versions.clear();
            index.latest = None;
            index.pointer = None;
            index.localname = None;
            Ok(existed.then_some(gone))
        })?;
        let Some(gone) = gone else { return Ok(false) };
        for version in gone {
            self.bucket
                .delete(&self.version_key(kind, name, &version))?;
        }
        Ok(true)
    }
}

/// Where a yank or delete takes `latest`: nowhere new (`None`), or where it falls back
/// (`Some(None)`: nowhere), owned so the index can change meanwhile.
fn owned(m: Move<'_>) -> Option<Option<String>> {
    match m {
        Move::To(v) => Some(Some(v.to_owned())),
        Move::Cleared => Some(None),
        Move::Stays => None,
    }
}

fn moved(to: &Option<Option<String>>) -> Move<'_> {
    match to {
        None => Move::Stays,
        Some(Some(v)) => Move::To(v),
        Some(None) => Move::Cleared,
    }
}
