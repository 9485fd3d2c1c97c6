//! Whole packages in and out of the SQLite registry, for `pyk migrate`: one package is
//! read in one transaction and written in one, so a migration killed at any point has
//! copied each package entirely or not at all.

use std::collections::BTreeMap;

use pyk_protocol::Kind;
use rusqlite::{params, Connection, TransactionBehavior};

use super::queries::{
    compose, latest_floor, latest_pointer, latest_version, localname, manifest_of, version_row,
    version_rows,
};
use super::{numbering, SqliteRegistry};
use crate::store::{label, stored_form, PackageRecord, Refusal, Result};

fn used(db: &Connection, kind: Kind, name: &str) -> Result<Vec<String>> {
    let mut stmt = db.prepare(
        "SELECT version FROM used_versions WHERE kind = ?1 AND name = ?2 ORDER BY version",
    )?;
    let rows = stmt.query_map(params![kind.as_str(), name], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

impl SqliteRegistry {
    pub(super) fn all_packages(&self) -> Result<Vec<(Kind, String)>> {
        let db = self.db();
        let mut stmt = db.prepare(
            "SELECT kind, name FROM versions UNION SELECT kind, name FROM packages
             UNION SELECT kind, name FROM used_versions ORDER BY 1, 2",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (kind, name) = row?;
            out.push((kind.parse()?, name));
        }
        Ok(out)
    }

    pub(super) fn export_package(&self, kind: Kind, name: &str) -> Result<PackageRecord> {
        let mut db = self.db();
        let tx = db.transaction()?;
        let mut versions = Vec::new();
        let mut promoted = BTreeMap::new();
        for (text, yanked, at) in version_rows(&tx, kind, name)? {
            let m = compose(&text, yanked, None)?;
            if let Some(at) = at {
                promoted.insert(m.version.clone(), at);
            }
            versions.push(m);
        }
        Ok(PackageRecord {
            versions,
            pointer: latest_pointer(&tx, kind, name)?,
            floor: latest_floor(&tx, kind, name)?,
            latest: latest_version(&tx, kind, name)?,
            localname: localname(&tx, kind, name)?,
            used: used(&tx, kind, name)?,
            promoted,
        })
    }

    pub(super) fn import_package(
        &self,
        kind: Kind,
        name: &str,
        record: &PackageRecord,
    ) -> Result<()> {
        let mut db = self.db();
        let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let conflict = |version: &str| Refusal::VersionExists {
            package: label(kind, name),
            version: version.to_owned(),
        };
        for m in &record.versions {
            let wanted = stored_form(m);
            match version_row(&tx, kind, name, &m.version)? {
                Some((text, _)) if manifest_of(&text)? != wanted => {
                    return Err(conflict(&m.version).into())
                }
                Some(_) => {}
                None if numbering::version_used(&tx, kind, name, &m.version)? => {
                    return Err(conflict(&m.version).into())
                }
                None => {
                    let seq = numbering::next_seq(&tx, kind, name)?;
                    tx.execute(
                        "INSERT INTO versions (kind, name, version, seq, manifest, published, publisher)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                        params![
                            kind.as_str(),
                            name,
                            m.version,
                            seq,
                            serde_json::to_string(&wanted)?,
                            m.published as i64,
                            m.publisher
                        ],
                    )?;
                    numbering::record(&tx, kind, name, &m.version, seq)?;
                }
            }
            tx.execute(
                "UPDATE versions SET yanked = ?4 WHERE kind = ?1 AND name = ?2 AND version = ?3",
                params![kind.as_str(), name, m.version, m.yanked],
            )?;
            if let Some(&at) = record.promoted.get(&m.version) {
                tx.execute(
                    "UPDATE versions SET promoted = MAX(COALESCE(promoted, 0), ?4)
                     WHERE kind = ?1 AND name = ?2 AND version = ?3",
                    params![kind.as_str(), name, m.version, at as i64],
                )?;
            }
        }
        for version in &record.used {
            tx.execute(
                "INSERT OR IGNORE INTO used_versions (kind, name, version) VALUES (?1, ?2, ?3)",
                params![kind.as_str(), name, version],
            )?;
        }
        // As recorded, not as a move: the pointer was checked where it was accepted,
        // and importing it again must not find it stale.
        match (&record.latest, &record.pointer) {
            (Some(version), pointer) => tx.execute(
                "INSERT INTO latest (kind, name, version, issued, key, sig)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (kind, name) DO UPDATE SET version = excluded.version,
                     issued = excluded.issued, key = excluded.key, sig = excluded.sig",
                params![
                    kind.as_str(),
                    name,
                    version,
                    pointer.as_ref().map(|p| p.issued as i64),
                    pointer.as_ref().map(|p| &p.signature.key),
                    pointer.as_ref().map(|p| &p.signature.sig)
                ],
            )?,
            (None, _) => tx.execute(
                "DELETE FROM latest WHERE kind = ?1 AND name = ?2",
                params![kind.as_str(), name],
            )?,
        };
        tx.execute(
            "INSERT INTO sequences (kind, name, last, issued) VALUES (?1, ?2, 0, ?3)
             ON CONFLICT (kind, name) DO UPDATE SET issued = MAX(issued, excluded.issued)",
            params![kind.as_str(), name, record.floor as i64],
        )?;
        if let Some(local) = &record.localname {
            tx.execute(
                "INSERT INTO packages (kind, name, localname) VALUES (?1, ?2, ?3)
                 ON CONFLICT (kind, name) DO UPDATE SET localname = excluded.localname",
                params![kind.as_str(), name, local],
            )?;
        }
        tx.commit()?;
        Ok(())
    }
}
