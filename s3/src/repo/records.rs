//! Whole packages in and out of a bucket, for `pyk migrate`: manifests first (created
//! only if absent, or found naming the same bytes), then one conditional index write,
//! so a migration killed at any point has copied each package entirely or not at all,
//! and running it again changes nothing.

use std::collections::BTreeMap;

use pyk_protocol::api::VersionInfo;
use pyk_protocol::Kind;

use pyk_registry::{label, stored_form, PackageRecord, Refusal};

use super::index::Entry;
use super::registry::info_of;
use super::{Repo, Result};

impl Repo {
    /// Every package with an index.
    pub fn packages(&self) -> Result<Vec<(Kind, String)>> {
        let mut out = Vec::new();
        for kind in [Kind::Run, Kind::Lib] {
            out.extend(self.names(kind)?.into_iter().map(|n| (kind, n)));
        }
        Ok(out)
    }

    /// Everything about one package: its versions (yanked flags set, no local name) in
    /// publish order, `latest` and its pointer, the floor, the local name, every
    /// version string used and when each version was last made latest (empty when
    /// there is no such package).
    pub fn export(&self, kind: Kind, name: &str) -> Result<PackageRecord> {
        let Some(index) = self.index(kind, name)? else {
            return Ok(PackageRecord {
                versions: Vec::new(),
                latest: None,
                pointer: None,
                floor: 0,
                localname: None,
                used: Vec::new(),
                promoted: BTreeMap::new(),
            });
        };
        let mut versions = Vec::new();
        let mut promoted = BTreeMap::new();
        for entry in &index.versions {
            if let Some(at) = entry.info.promoted {
                promoted.insert(entry.info.version.clone(), at);
            }
            let mut m = self
                .stored_manifest(kind, name, &entry.info.version)?
                .ok_or_else(|| Refusal::NoVersion {
                    package: label(kind, name),
                    version: entry.info.version.clone(),
                })?;
            m.yanked = entry.info.yanked;
            versions.push(m);
        }
        let mut used = index.used.clone();
        used.sort();
        Ok(PackageRecord {
            versions,
            pointer: index.current_pointer().cloned(),
            floor: index.floor,
            latest: index.latest,
            localname: index.localname,
            used,
            promoted,
        })
    }

    /// Makes the package hold what `import` holds (see the module doc).
    pub fn import(&self, kind: Kind, name: &str, import: &PackageRecord) -> Result<()> {
        let conflict = |version: &str| Refusal::VersionExists {
            package: label(kind, name),
            version: version.to_owned(),
        };
        for m in &import.versions {
            let wanted = stored_form(m);
            let key = self.version_key(kind, name, &m.version);
            let body = serde_json::to_vec(&wanted).expect("a manifest always serializes");
            if !self.create(&key, &body)?
                && self.stored_manifest(kind, name, &m.version)?.as_ref() != Some(&wanted)
            {
                return Err(conflict(&m.version).into());
            }
        }
        self.mutate(kind, name, |index| {
            for m in &import.versions {
                let at = import.promoted.get(&m.version).copied();
                if let Some(entry) = index.entry_mut(&m.version) {
                    entry.info.yanked = m.yanked;
                    entry.info.promoted = entry.info.promoted.max(at);
                    continue;
                }
                if index.used(&m.version) {
                    return Err(conflict(&m.version).into());
                }
                index.last_seq += 1;
                index.used.push(m.version.clone());
                index.versions.push(Entry {
                    seq: index.last_seq,
                    info: VersionInfo {
                        promoted: at,
                        ..info_of(m)
                    },
                });
            }
            for version in &import.used {
                if !index.used(version) {
                    index.used.push(version.clone());
                }
            }
            index.latest = import.latest.clone();
            index.pointer = import.pointer.clone();
            index.floor = index.floor.max(import.floor);
            if let Some(local) = &import.localname {
                index.localname = Some(local.clone());
            }
            Ok(())
        })
    }
}
