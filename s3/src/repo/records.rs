//! Whole packages in and out of a bucket, for `pyk migrate`: manifests first (created
//! only if absent, or found naming the same bytes), then one conditional index write,
//! so a migration killed at any point has copied each package entirely or not at all,
//! and running it again changes nothing.

use pyk_protocol::api::{LatestPointer, Manifest};
use pyk_protocol::Kind;

use super::index::Entry;
use super::registry::info_of;
use super::{label, Error, Repo, Result};

/// The manifest as stored: what never changes (no yanked flag, no local name, no
/// pointer: its signature stays).
fn stored_form(m: &Manifest) -> Manifest {
    Manifest {
        yanked: false,
        localname: None,
        latest: None,
        ..m.clone()
    }
}

/// What a package holds, to import: its versions in publish order with their yanked
/// flags (and signatures), `latest` with the signed pointer that set it, the newest
/// `issued` it accepted, its local name, every version string it ever used.
pub struct Import<'a> {
    pub versions: &'a [Manifest],
    pub latest: Option<&'a str>,
    pub pointer: Option<&'a LatestPointer>,
    pub floor: u64,
    pub localname: Option<&'a str>,
    pub used: &'a [String],
}

impl Repo {
    /// Every package with an index.
    pub fn packages(&self) -> Result<Vec<(Kind, String)>> {
        let mut out = Vec::new();
        for kind in [Kind::Run, Kind::Lib] {
            out.extend(self.names(kind)?.into_iter().map(|n| (kind, n)));
        }
        Ok(out)
    }

    /// A package's versions (yanked flags set, no local name) in publish order, and its
    /// index; `None` when it has none.
    pub fn export(&self, kind: Kind, name: &str) -> Result<Option<(super::Index, Vec<Manifest>)>> {
        let Some(index) = self.index(kind, name)? else {
            return Ok(None);
        };
        let mut versions = Vec::new();
        for entry in &index.versions {
            let mut m = self
                .stored_manifest(kind, name, &entry.info.version)?
                .ok_or_else(|| Error::NoVersion {
                    package: label(kind, name),
                    version: entry.info.version.clone(),
                })?;
            m.yanked = entry.info.yanked;
            versions.push(m);
        }
        Ok(Some((index, versions)))
    }

    /// Makes the package hold what `import` says (see the module doc).
    pub fn import(&self, kind: Kind, name: &str, import: &Import) -> Result<()> {
        let conflict = |version: &str| Error::VersionExists {
            package: label(kind, name),
            version: version.to_owned(),
        };
        for m in import.versions {
            let wanted = stored_form(m);
            let key = self.version_key(kind, name, &m.version);
            let body = serde_json::to_vec(&wanted).expect("a manifest always serializes");
            if !self.create(&key, &body)?
                && self.stored_manifest(kind, name, &m.version)?.as_ref() != Some(&wanted)
            {
                return Err(conflict(&m.version));
            }
        }
        self.mutate(kind, name, |index| {
            for m in import.versions {
                if let Some(entry) = index.entry_mut(&m.version) {
                    entry.info.yanked = m.yanked;
                    continue;
                }
                if index.used(&m.version) {
                    return Err(conflict(&m.version));
                }
                index.last_seq += 1;
                index.used.push(m.version.clone());
                index.versions.push(Entry {
                    seq: index.last_seq,
                    info: info_of(m),
                });
            }
            for version in import.used {
                if !index.used(version) {
                    index.used.push(version.clone());
                }
            }
            index.latest = import.latest.map(str::to_owned);
            index.pointer = import.pointer.cloned();
            index.floor = index.floor.max(import.floor);
            if let Some(local) = import.localname {
                index.localname = Some(local.to_owned());
            }
            Ok(())
        })
    }
}
