//! The registry in SQLite (`meta.sqlite`): every change is one `IMMEDIATE` transaction,
//! so concurrent publishes, promotes and yanks are serialised by the database, whichever
//! process makes them.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use pyk_protocol::api::{
    LatestPointer, Manifest, NextVersion, PackageSummary, PublishRequest, VersionInfo, VersionList,
};
use pyk_protocol::{Kind, Sha256};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::queries::{
    compose, fall_back, latest_floor, latest_pointer, latest_version, localname, manifest_of,
    move_latest, no_version, package_exists, version_row, version_rows,
};
use super::{numbering, schema};
use crate::store::{
    label, GcReport, Latest, Move, PackageRecord, Refusal, Registry, Result, StoreError,
};

pub struct SqliteRegistry {
    db: Mutex<Connection>,
    /// A second connection, only for [`Registry::tag`]: SQLite's `data_version`
    /// changes for a connection when any OTHER connection commits, and that includes
    /// `db`, so this one sees every write, this process's and others'.
    watch: Mutex<Connection>,
}

impl SqliteRegistry {
    /// Opens (creating and migrating if needed) the registry in the database at `path`.
    /// Any number of processes may open one: SQLite serialises their writes.
    pub fn open(path: &Path) -> Result<SqliteRegistry> {
        let db = schema::connect(path)?;
        let watch = Connection::open(path)?;
        watch.busy_timeout(Duration::from_secs(30))?;
        Ok(SqliteRegistry {
            db: Mutex::new(db),
            watch: Mutex::new(watch),
        })
    }

    pub(super) fn db(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the connection leaves no half-done transaction behind
        // (rusqlite rolls back on drop), so a poisoned lock is still usable.
        self.db.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Registry<StoreError> for SqliteRegistry {
    fn list(&self) -> Result<Vec<PackageSummary>> {
        let db = self.db();
        let mut stmt = db.prepare(
            "SELECT p.kind, p.name, v.manifest
             FROM (SELECT DISTINCT kind, name FROM versions) p
             LEFT JOIN latest l ON l.kind = p.kind AND l.name = p.name
             LEFT JOIN versions v
                 ON v.kind = l.kind AND v.name = l.name AND v.version = l.version
             ORDER BY p.kind, p.name",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (kind, name, manifest) = row?;
            out.push(match manifest {
                Some(text) => {
                    let m = manifest_of(&text)?;
                    PackageSummary {
                        kind: m.kind,
                        name: m.name,
                        version: m.version,
                        size: m.size,
                        published: m.published,
                        publisher: m.publisher,
                    }
                }
                None => PackageSummary {
                    kind: kind.parse()?,
                    name,
                    version: String::new(),
                    size: 0,
                    published: 0,
                    publisher: String::new(),
                },
            });
        }
        Ok(out)
    }

    fn current(&self, kind: Kind, name: &str) -> Result<Latest> {
        let db = self.db();
        let row: Option<(String, bool)> = db
            .query_row(
                "SELECT v.manifest, v.yanked FROM latest l JOIN versions v USING (kind, name, version)
                 WHERE l.kind = ?1 AND l.name = ?2",
                params![kind.as_str(), name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        match row {
            Some((text, yanked)) => {
                let mut manifest = compose(&text, yanked, localname(&db, kind, name)?)?;
                manifest.latest = latest_pointer(&db, kind, name)?;
                Ok(Latest::Manifest(Box::new(manifest)))
            }
            None if package_exists(&db, kind, name)? => Ok(Latest::Unpromoted),
            None => Ok(Latest::NoPackage),
        }
    }

    fn version(&self, kind: Kind, name: &str, version: &str) -> Result<Option<Manifest>> {
        let db = self.db();
        match version_row(&db, kind, name, version)? {
            Some((text, yanked)) => Ok(Some(compose(&text, yanked, localname(&db, kind, name)?)?)),
            None => Ok(None),
        }
    }

    fn versions(&self, kind: Kind, name: &str) -> Result<Option<VersionList>> {
        let db = self.db();
        if !package_exists(&db, kind, name)? {
            return Ok(None);
        }
        let mut versions = Vec::new();
        for (text, yanked, promoted) in version_rows(&db, kind, name)? {
            let m = manifest_of(&text)?;
            versions.push(VersionInfo {
                promoted,
                ..VersionInfo::of(&m, yanked)
            });
        }
        Ok(Some(VersionList {
            latest: latest_version(&db, kind, name)?,
            localname: localname(&db, kind, name)?,
            versions,
        }))
    }

    fn publish(
        &self,
        kind: Kind,
        name: &str,
        request: &PublishRequest,
        publisher: &str,
        now: u64,
        blobs_stored: &dyn Fn() -> Result<()>,
    ) -> Result<Manifest> {
        let mut db = self.db();
        let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version = match &request.version {
            Some(v) if numbering::version_used(&tx, kind, name, v)? => {
                return Err(Refusal::VersionExists {
                    package: label(kind, name),
                    version: v.clone(),
                }
                .into())
            }
            Some(v) => v.clone(),
            None => numbering::next_number(&tx, kind, name)?,
        };
        // Under the write lock, which garbage collection also takes: a blob seen here
        // cannot be deleted before the commit.
        blobs_stored()?;
        let seq = numbering::next_seq(&tx, kind, name)?;
        let mut manifest = request.manifest(kind, name, version, publisher, now);
        let text = serde_json::to_string(&manifest)?;
        tx.execute(
            "INSERT INTO versions (kind, name, version, seq, manifest, published, publisher)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                kind.as_str(),
                name,
                manifest.version,
                seq,
                text,
                now as i64,
                publisher
            ],
        )?;
        numbering::record(&tx, kind, name, &manifest.version, seq)?;
        let to = if request.promote {
            Move::To(&manifest.version)
        } else {
            Move::Stays
        };
        move_latest(&tx, kind, name, to, request.latest.as_ref())?;
        manifest.localname = localname(&tx, kind, name)?;
        if request.promote {
            manifest.latest = request.latest.clone();
        }
        tx.commit()?;
        Ok(manifest)
    }

    fn promote(
        &self,
        kind: Kind,
        name: &str,
        version: &str,
        pointer: Option<&LatestPointer>,
    ) -> Result<Manifest> {
        let mut db = self.db();
        let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (text, yanked) = version_row(&tx, kind, name, version)?
            .ok_or_else(|| no_version(kind, name, version))?;
        if yanked {
            return Err(Refusal::Yanked {
                package: label(kind, name),
                version: version.to_owned(),
            }
            .into());
        }
        move_latest(&tx, kind, name, Move::To(version), pointer)?;
        let mut manifest = compose(&text, false, localname(&tx, kind, name)?)?;
        manifest.latest = pointer.cloned();
        tx.commit()?;
        Ok(manifest)
    }

    fn yank(
        &self,
        kind: Kind,
        name: &str,
        version: &str,
        yanked: bool,
        pointer: Option<&LatestPointer>,
    ) -> Result<Manifest> {
        let mut db = self.db();
        let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (text, _) = version_row(&tx, kind, name, version)?
            .ok_or_else(|| no_version(kind, name, version))?;
        tx.execute(
            "UPDATE versions SET yanked = ?4 WHERE kind = ?1 AND name = ?2 AND version = ?3",
            params![kind.as_str(), name, version, yanked],
        )?;
        let next = if yanked && latest_version(&tx, kind, name)?.as_deref() == Some(version) {
            Some(fall_back(&tx, kind, name, version)?)
        } else {
            None
        };
        move_latest(&tx, kind, name, to(&next), pointer)?;
        let manifest = compose(&text, yanked, localname(&tx, kind, name)?)?;
        tx.commit()?;
        Ok(manifest)
    }

    fn delete_version(
        &self,
        kind: Kind,
        name: &str,
        version: &str,
        force: bool,
        pointer: Option<&LatestPointer>,
    ) -> Result<()> {
        let mut db = self.db();
        let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if version_row(&tx, kind, name, version)?.is_none() {
            return Err(no_version(kind, name, version));
        }
        let mut next = None;
        if latest_version(&tx, kind, name)?.as_deref() == Some(version) {
            if !force {
                return Err(Refusal::IsLatest {
                    package: label(kind, name),
                    version: version.to_owned(),
                }
                .into());
            }
            next = Some(fall_back(&tx, kind, name, version)?);
        }
        move_latest(&tx, kind, name, to(&next), pointer)?;
        tx.execute(
            "DELETE FROM versions WHERE kind = ?1 AND name = ?2 AND version = ?3",
            params![kind.as_str(), name, version],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn next(&self, kind: Kind, name: &str) -> Result<NextVersion> {
        let db = self.db();
        Ok(NextVersion {
            version: numbering::next_number(&db, kind, name)?,
            latest_issued: latest_floor(&db, kind, name)?,
        })
    }

    fn set_localname(&self, kind: Kind, name: &str, localname: &str) -> Result<()> {
        let mut db = self.db();
        let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO packages (kind, name, localname) VALUES (?1, ?2, ?3)
             ON CONFLICT (kind, name) DO UPDATE SET localname = excluded.localname",
            params![kind.as_str(), name, localname],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn remove(&self, kind: Kind, name: &str) -> Result<bool> {
        let mut db = self.db();
        let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "DELETE FROM latest WHERE kind = ?1 AND name = ?2",
            params![kind.as_str(), name],
        )?;
        let versions = tx.execute(
            "DELETE FROM versions WHERE kind = ?1 AND name = ?2",
            params![kind.as_str(), name],
        )?;
        let record = tx.execute(
            "DELETE FROM packages WHERE kind = ?1 AND name = ?2",
            params![kind.as_str(), name],
        )?;
        tx.commit()?;
        Ok(versions + record > 0)
    }

    fn with_references(
        &self,
        sweep: &mut dyn FnMut(&HashSet<Sha256>) -> Result<GcReport>,
    ) -> Result<GcReport> {
        let mut db = self.db();
        // Held until the sweep is done, so no publish can check a blob in between.
        let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut referenced = HashSet::new();
        {
            let mut stmt = tx.prepare("SELECT manifest FROM versions")?;
            for row in stmt.query_map([], |r| r.get::<_, String>(0))? {
                let manifest = manifest_of(&row?)?;
                // A malformed digest names no stored blob, so it protects nothing.
                referenced.extend(
                    manifest
                        .blobs
                        .iter()
                        .chain(&manifest.api)
                        .filter_map(|b| b.sha256.parse::<Sha256>().ok()),
                );
            }
        }
        let report = sweep(&referenced)?;
        tx.commit()?;
        Ok(report)
    }

    fn packages(&self) -> Result<Vec<(Kind, String)>> {
        self.all_packages()
    }

    fn export(&self, kind: Kind, name: &str) -> Result<PackageRecord> {
        self.export_package(kind, name)
    }

    fn import(&self, kind: Kind, name: &str, record: &PackageRecord) -> Result<()> {
        self.import_package(kind, name, record)
    }

    /// One tag for every package: the database's `data_version`, which moves with
    /// every commit. A cache then refills more than it must, at most once a poll.
    fn tag(&self, _kind: Kind, _name: &str) -> Result<Option<String>> {
        let watch = self.watch.lock().unwrap_or_else(|e| e.into_inner());
        let version: i64 = watch.query_row("PRAGMA data_version", [], |r| r.get(0))?;
        Ok(Some(version.to_string()))
    }
}

/// Where a yank or delete takes `latest`: nowhere new (`None`), or where it falls back.
fn to(next: &Option<Option<String>>) -> Move<'_> {
    match next {
        None => Move::Stays,
        Some(Some(v)) => Move::To(v),
        Some(None) => Move::Cleared,
    }
}
