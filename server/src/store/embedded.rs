//! The store in one directory a user can back up:
//!
//! ```text
//! PATH/meta.sqlite        versions, latest pointers, local names (WAL, synchronous=FULL)
//! PATH/blobs/ab/abcd…     blobs as uploaded (encrypted), named by their plaintext sha256
//! PATH/tmp/               uploads in progress
//! PATH/lock               held by the one server using the store
//! ```
//!
//! Crash safety comes from ordering: a blob becomes visible only by a rename after its
//! bytes (and then its directory) are fsynced, and a version only by the SQLite commit
//! that follows a check that all its blobs exist. A server killed at any moment leaves
//! at worst files in `tmp/`, cleared on the next start.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, RwLock};
use std::time::{Duration, SystemTime};

use pyk_crypto::blob::encrypted_len;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use tempfile::NamedTempFile;

use super::{label, BlobRead, GcReport, Latest, Result, StagedBlob, Store, StoreError};
use pyk_protocol::api::{Manifest, PackageSummary, PublishRequest, VersionInfo, VersionList};
use pyk_protocol::{Kind, Sha256};

/// `version` is the name users see, `seq` orders versions (the publish order), `latest`
/// a pointer that publish, promote, yank and delete move, `yanked` a flag. What never
/// goes away: `sequences` remembers the last `seq` handed out and `used_versions` every
/// version string ever published, even after a version or the whole package is removed,
/// so a version string can never name other bytes. `packages` holds what belongs to a
/// package rather than a version (its local file name), and exists only once set.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS versions (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    seq INTEGER NOT NULL,
    manifest TEXT NOT NULL,
    published INTEGER NOT NULL,
    publisher TEXT NOT NULL,
    yanked INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (kind, name, version),
    UNIQUE (kind, name, seq)
);
CREATE TABLE IF NOT EXISTS latest (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    PRIMARY KEY (kind, name),
    FOREIGN KEY (kind, name, version) REFERENCES versions (kind, name, version)
);
CREATE TABLE IF NOT EXISTS sequences (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    last INTEGER NOT NULL,
    PRIMARY KEY (kind, name)
);
CREATE TABLE IF NOT EXISTS used_versions (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    PRIMARY KEY (kind, name, version)
);
CREATE TABLE IF NOT EXISTS packages (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    localname TEXT,
    PRIMARY KEY (kind, name)
);
";

/// `PRAGMA user_version` once [`MIGRATE_1`] has run.
const SCHEMA_VERSION: i64 = 1;

/// Brings a store written before `used_versions` existed up to date. Such a store only
/// ever had automatic versions, so every number up to a package's `sequences.last` was
/// used, including those of versions since removed.
const MIGRATE_1: &str = "
INSERT OR IGNORE INTO used_versions (kind, name, version)
    SELECT kind, name, version FROM versions;
WITH RECURSIVE n (kind, name, i, last) AS (
    SELECT kind, name, 1, last FROM sequences WHERE last >= 1
    UNION ALL
    SELECT kind, name, i + 1, last FROM n WHERE i < last
)
INSERT OR IGNORE INTO used_versions (kind, name, version)
    SELECT kind, name, CAST(i AS TEXT) FROM n;
PRAGMA user_version = 1;
";

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Db(e.to_string())
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Db(format!("stored manifest is not valid JSON: {e}"))
    }
}

pub struct EmbeddedStore {
    root: PathBuf,
    db: Mutex<Connection>,
    /// Blob commits hold it shared, garbage collection exclusively: a blob re-uploaded
    /// (or re-touched) while GC runs is never deleted under it.
    gc: RwLock<()>,
    /// Held open for its exclusive lock: two servers on one store would each clear the
    /// other's uploads in progress.
    _lock: File,
}

impl EmbeddedStore {
    /// Opens (creating if needed) the store at `root`, and clears debris that a killed
    /// server left in `tmp/`.
    pub fn open(root: &Path) -> Result<EmbeddedStore> {
        fs::create_dir_all(root.join("blobs"))?;
        fs::create_dir_all(root.join("tmp"))?;
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(root.join("lock"))?;
        lock.try_lock().map_err(|_| {
            StoreError::Io(io::Error::other(format!(
                "{} is in use by another pyk server",
                root.display()
            )))
        })?;
        for entry in fs::read_dir(root.join("tmp"))? {
            let path = entry?.path();
            if path.is_file() {
                fs::remove_file(&path)?;
            }
        }
        let mut conn = Connection::open(root.join("meta.sqlite"))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(Duration::from_secs(30))?;
        migrate(&mut conn)?;
        Ok(EmbeddedStore {
            root: root.to_owned(),
            db: Mutex::new(conn),
            gc: RwLock::new(()),
            _lock: lock,
        })
    }

    fn db(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the connection leaves no half-done transaction behind
        // (rusqlite rolls back on drop), so a poisoned lock is still usable.
        self.db.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn blob_path(&self, sha256: &str) -> PathBuf {
        self.root.join("blobs").join(&sha256[..2]).join(sha256)
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch(SCHEMA)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version < SCHEMA_VERSION {
        tx.execute_batch(MIGRATE_1)?;
    }
    tx.commit()?;
    Ok(())
}

fn manifest_of(row: &str) -> Result<Manifest> {
    Ok(serde_json::from_str(row)?)
}

/// The stored manifest holds what never changes; the yanked flag and the package's
/// local name are kept apart (they do change) and filled in on the way out.
fn compose(row: &str, yanked: bool, localname: Option<String>) -> Result<Manifest> {
    let mut manifest = manifest_of(row)?;
    manifest.yanked = yanked;
    manifest.localname = localname;
    Ok(manifest)
}

/// A version's stored manifest and yanked flag.
fn version_row(
    db: &Connection,
    kind: Kind,
    name: &str,
    version: &str,
) -> Result<Option<(String, bool)>> {
    Ok(db
        .query_row(
            "SELECT manifest, yanked FROM versions WHERE kind = ?1 AND name = ?2 AND version = ?3",
            params![kind.as_str(), name, version],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

fn localname(db: &Connection, kind: Kind, name: &str) -> Result<Option<String>> {
    Ok(db
        .query_row(
            "SELECT localname FROM packages WHERE kind = ?1 AND name = ?2",
            params![kind.as_str(), name],
            |r| r.get(0),
        )
        .optional()?
        .flatten())
}

fn latest_version(db: &Connection, kind: Kind, name: &str) -> Result<Option<String>> {
    Ok(db
        .query_row(
            "SELECT version FROM latest WHERE kind = ?1 AND name = ?2",
            params![kind.as_str(), name],
            |r| r.get(0),
        )
        .optional()?)
}

/// Whether the package has a version or a record of its own.
fn package_exists(db: &Connection, kind: Kind, name: &str) -> Result<bool> {
    Ok(db.query_row(
        "SELECT EXISTS (SELECT 1 FROM versions WHERE kind = ?1 AND name = ?2)
             OR EXISTS (SELECT 1 FROM packages WHERE kind = ?1 AND name = ?2)",
        params![kind.as_str(), name],
        |r| r.get(0),
    )?)
}

fn set_latest(db: &Connection, kind: Kind, name: &str, version: Option<&str>) -> Result<()> {
    match version {
        Some(v) => db.execute(
            "INSERT INTO latest (kind, name, version) VALUES (?1, ?2, ?3)
             ON CONFLICT (kind, name) DO UPDATE SET version = excluded.version",
            params![kind.as_str(), name, v],
        )?,
        None => db.execute(
            "DELETE FROM latest WHERE kind = ?1 AND name = ?2",
            params![kind.as_str(), name],
        )?,
    };
    Ok(())
}

/// Where `latest` goes when the version it points at (`leaving`) is yanked or deleted:
/// the newest other version, by publish order, that is not yanked.
fn fall_back(db: &Connection, kind: Kind, name: &str, leaving: &str) -> Result<()> {
    let next: Option<String> = db
        .query_row(
            "SELECT version FROM versions
             WHERE kind = ?1 AND name = ?2 AND version <> ?3 AND yanked = 0
             ORDER BY seq DESC LIMIT 1",
            params![kind.as_str(), name, leaving],
            |r| r.get(0),
        )
        .optional()?;
    set_latest(db, kind, name, next.as_deref())
}

fn version_used(db: &Connection, kind: Kind, name: &str, version: &str) -> Result<bool> {
    Ok(db.query_row(
        "SELECT EXISTS (SELECT 1 FROM used_versions WHERE kind = ?1 AND name = ?2 AND version = ?3)",
        params![kind.as_str(), name, version],
        |r| r.get(0),
    )?)
}

/// The next automatic version: one more than the highest all-digit version string the
/// package ever used (explicit ones count too), then on past any string already taken
/// (`"0100"` is not `"100"`, but a number too long for a u64 is not counted).
fn next_number(db: &Connection, kind: Kind, name: &str) -> Result<String> {
    let mut highest = 0u64;
    {
        let mut stmt = db.prepare(
            "SELECT version FROM used_versions
             WHERE kind = ?1 AND name = ?2 AND version NOT GLOB '*[^0-9]*'",
        )?;
        for row in stmt.query_map(params![kind.as_str(), name], |r| r.get::<_, String>(0))? {
            if let Ok(n) = row?.parse::<u64>() {
                highest = highest.max(n);
            }
        }
    }
    let mut candidate = highest;
    loop {
        candidate = candidate.checked_add(1).ok_or_else(|| {
            StoreError::Db(format!(
                "{} has used up automatic version numbers; give a version explicitly",
                label(kind, name)
            ))
        })?;
        let text = candidate.to_string();
        if !version_used(db, kind, name, &text)? {
            return Ok(text);
        }
    }
}

fn no_version(kind: Kind, name: &str, version: &str) -> StoreError {
    StoreError::NoVersion {
        package: label(kind, name),
        version: version.to_owned(),
    }
}

struct Staged<'a> {
    store: &'a EmbeddedStore,
    file: NamedTempFile,
}

impl Write for Staged<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl StagedBlob for Staged<'_> {
    fn commit(self: Box<Self>, sha256: &str) -> Result<bool> {
        if sha256.parse::<Sha256>().is_err() {
            return Err(StoreError::Io(io::Error::other("invalid blob id")));
        }
        self.file.as_file().sync_all()?;
        let store = self.store;
        let _gc = store.gc.read().unwrap_or_else(|e| e.into_inner());
        let dest = store.blob_path(sha256);
        // Already stored: refresh its age so a GC grace period counts from this upload.
        if let Ok(existing) = File::options().write(true).open(&dest) {
            existing.set_modified(SystemTime::now())?;
            return Ok(false);
        }
        let dir = dest
            .parent()
            .ok_or_else(|| io::Error::other("blob path has no parent"))?;
        if !dir.exists() {
            fs::create_dir_all(dir)?;
            sync_dir(&store.root.join("blobs"))?;
        }
        self.file.persist(&dest).map_err(|e| e.error)?;
        sync_dir(dir)?;
        Ok(true)
    }
}

impl Store for EmbeddedStore {
    fn blob_len(&self, sha256: &str) -> Result<Option<u64>> {
        match fs::metadata(self.blob_path(sha256)) {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn read_blob(&self, sha256: &str) -> Result<Option<BlobRead>> {
        match File::open(self.blob_path(sha256)) {
            Ok(file) => Ok(Some(BlobRead {
                len: file.metadata()?.len(),
                reader: Box::new(file),
            })),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn stage_blob(&self) -> Result<Box<dyn StagedBlob + '_>> {
        let file = tempfile::Builder::new()
            .suffix(".part")
            .tempfile_in(self.root.join("tmp"))?;
        Ok(Box::new(Staged { store: self, file }))
    }

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
                    }
                }
                None => PackageSummary {
                    kind: Kind::parse(&kind).ok_or_else(|| {
                        StoreError::Db(format!("stored kind {kind:?} is not run or lib"))
                    })?,
                    name,
                    version: String::new(),
                    size: 0,
                    published: 0,
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
            Some((text, yanked)) => Ok(Latest::Manifest(Box::new(compose(
                &text,
                yanked,
                localname(&db, kind, name)?,
            )?))),
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
        let mut stmt = db.prepare(
            "SELECT manifest, yanked FROM versions WHERE kind = ?1 AND name = ?2 ORDER BY seq",
        )?;
        let rows = stmt.query_map(params![kind.as_str(), name], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, bool>(1)?))
        })?;
        let mut versions = Vec::new();
        for row in rows {
            let (text, yanked) = row?;
            let m = manifest_of(&text)?;
            versions.push(VersionInfo {
                version: m.version,
                published: m.published,
                publisher: m.publisher,
                size: m.size,
                yanked,
                artifact_sha256: m.artifact_sha256,
                format: m.format,
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
    ) -> Result<Manifest> {
        let mut db = self.db();
        let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version = match &request.version {
            Some(v) if version_used(&tx, kind, name, v)? => {
                return Err(StoreError::VersionExists {
                    package: label(kind, name),
                    version: v.clone(),
                })
            }
            Some(v) => v.clone(),
            None => next_number(&tx, kind, name)?,
        };
        // Checked under the write lock, which garbage collection also takes: a blob
        // seen here cannot be deleted before the commit.
        for blob in &request.blobs {
            if self.blob_len(&blob.sha256)? != Some(encrypted_len(blob.size)) {
                return Err(StoreError::MissingBlob(blob.sha256.clone()));
            }
        }
        let last: i64 = tx
            .query_row(
                "SELECT MAX(COALESCE((SELECT last FROM sequences WHERE kind = ?1 AND name = ?2), 0),
                            COALESCE((SELECT MAX(seq) FROM versions WHERE kind = ?1 AND name = ?2), 0))",
                params![kind.as_str(), name],
                |r| r.get(0),
            )?;
        let seq = last + 1;
        let mut manifest = Manifest {
            kind,
            name: name.to_owned(),
            version,
            published: now,
            publisher: publisher.to_owned(),
            artifact_sha256: request.artifact_sha256.clone(),
            size: request.size,
            python: request.python.clone(),
            blobs: request.blobs.clone(),
            format: request.format.clone(),
            executable: request.executable,
            yanked: false,
            localname: None,
        };
        let text = serde_json::to_string(&manifest).map_err(|e| StoreError::Db(e.to_string()))?;
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
        tx.execute(
            "INSERT INTO used_versions (kind, name, version) VALUES (?1, ?2, ?3)",
            params![kind.as_str(), name, manifest.version],
        )?;
        tx.execute(
            "INSERT INTO sequences (kind, name, last) VALUES (?1, ?2, ?3)
             ON CONFLICT (kind, name) DO UPDATE SET last = excluded.last",
            params![kind.as_str(), name, seq],
        )?;
        if request.promote {
            set_latest(&tx, kind, name, Some(&manifest.version))?;
        }
        manifest.localname = localname(&tx, kind, name)?;
        tx.commit()?;
        Ok(manifest)
    }

    fn promote(&self, kind: Kind, name: &str, version: &str) -> Result<Manifest> {
        let mut db = self.db();
        let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (text, yanked) = version_row(&tx, kind, name, version)?
            .ok_or_else(|| no_version(kind, name, version))?;
        if yanked {
            return Err(StoreError::Yanked {
                package: label(kind, name),
                version: version.to_owned(),
            });
        }
        set_latest(&tx, kind, name, Some(version))?;
        let manifest = compose(&text, false, localname(&tx, kind, name)?)?;
        tx.commit()?;
        Ok(manifest)
    }

    fn yank(&self, kind: Kind, name: &str, version: &str, yanked: bool) -> Result<Manifest> {
        let mut db = self.db();
        let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (text, _) = version_row(&tx, kind, name, version)?
            .ok_or_else(|| no_version(kind, name, version))?;
        tx.execute(
            "UPDATE versions SET yanked = ?4 WHERE kind = ?1 AND name = ?2 AND version = ?3",
            params![kind.as_str(), name, version, yanked],
        )?;
        if yanked && latest_version(&tx, kind, name)?.as_deref() == Some(version) {
            fall_back(&tx, kind, name, version)?;
        }
        let manifest = compose(&text, yanked, localname(&tx, kind, name)?)?;
        tx.commit()?;
        Ok(manifest)
    }

    fn delete_version(&self, kind: Kind, name: &str, version: &str, force: bool) -> Result<()> {
        let mut db = self.db();
        let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if version_row(&tx, kind, name, version)?.is_none() {
            return Err(no_version(kind, name, version));
        }
        if latest_version(&tx, kind, name)?.as_deref() == Some(version) {
            if !force {
                return Err(StoreError::IsLatest {
                    package: label(kind, name),
                    version: version.to_owned(),
                });
            }
            fall_back(&tx, kind, name, version)?;
        }
        tx.execute(
            "DELETE FROM versions WHERE kind = ?1 AND name = ?2 AND version = ?3",
            params![kind.as_str(), name, version],
        )?;
        tx.commit()?;
        Ok(())
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

    fn collect_garbage(&self, grace: Duration) -> Result<GcReport> {
        let _gc = self.gc.write().unwrap_or_else(|e| e.into_inner());
        let mut db = self.db();
        // Held until the files are gone, so no publish can check a blob in between.
        let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut referenced = HashSet::new();
        {
            let mut stmt = tx.prepare("SELECT manifest FROM versions")?;
            for row in stmt.query_map([], |r| r.get::<_, String>(0))? {
                referenced.extend(manifest_of(&row?)?.blobs.into_iter().map(|b| b.sha256));
            }
        }
        let old = |meta: &fs::Metadata| {
            meta.modified()
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age >= grace)
        };
        let mut report = GcReport::default();
        for dir in fs::read_dir(self.root.join("blobs"))? {
            let dir = dir?;
            if !dir.file_type()?.is_dir() {
                continue;
            }
            for entry in fs::read_dir(dir.path())? {
                let entry = entry?;
                let name = entry.file_name();
                let Some(sha) = name.to_str() else { continue };
                let meta = entry.metadata()?;
                if sha.parse::<Sha256>().is_ok() && !referenced.contains(sha) && old(&meta) {
                    fs::remove_file(entry.path())?;
                    report.blobs += 1;
                    report.bytes += meta.len();
                }
            }
        }
        for entry in fs::read_dir(self.root.join("tmp"))? {
            let entry = entry?;
            if old(&entry.metadata()?) {
                fs::remove_file(entry.path())?;
            }
        }
        tx.commit()?;
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pyk_protocol::api::BlobRef;

    fn put(store: &EmbeddedStore, sha: &str, len: u64) -> bool {
        let mut staged = store.stage_blob().unwrap();
        staged.write_all(&vec![7u8; len as usize]).unwrap();
        staged.commit(sha).unwrap()
    }

    fn request(blobs: &[(&str, u64)]) -> PublishRequest {
        PublishRequest {
            artifact_sha256: "ab".repeat(32),
            size: blobs.iter().map(|b| b.1).sum(),
            python: "3.11".into(),
            blobs: blobs
                .iter()
                .map(|(s, n)| BlobRef {
                    sha256: s.to_string(),
                    size: *n,
                })
                .collect(),
            version: None,
            promote: true,
            format: "pyk".into(),
            executable: true,
        }
    }

    fn explicit(blobs: &[(&str, u64)], version: &str, promote: bool) -> PublishRequest {
        PublishRequest {
            version: Some(version.into()),
            promote,
            ..request(blobs)
        }
    }

    fn latest(store: &EmbeddedStore, name: &str) -> Option<String> {
        match store.current(Kind::Run, name).unwrap() {
            Latest::Manifest(m) => Some(m.version),
            Latest::Unpromoted => None,
            Latest::NoPackage => panic!("no package {name}"),
        }
    }

    #[test]
    fn publish_remove_and_collect() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let (a, b) = ("aa".repeat(32), "bb".repeat(32));
        assert!(put(&store, &a, encrypted_len(10)));
        assert!(!put(&store, &a, encrypted_len(10)), "dedup");
        let missing = store.publish(Kind::Run, "x", &request(&[(&a, 10), (&b, 5)]), "n", 1);
        assert!(matches!(missing, Err(StoreError::MissingBlob(s)) if s == b));
        let wrong_size = store.publish(Kind::Run, "x", &request(&[(&a, 100)]), "n", 1);
        assert!(matches!(wrong_size, Err(StoreError::MissingBlob(_))));
        put(&store, &b, encrypted_len(5));
        let m1 = store
            .publish(Kind::Run, "x", &request(&[(&a, 10)]), "n", 1)
            .unwrap();
        let m2 = store
            .publish(Kind::Run, "x", &request(&[(&a, 10), (&b, 5)]), "n", 2)
            .unwrap();
        assert_eq!((m1.version.as_str(), m2.version.as_str()), ("1", "2"));
        assert_eq!(
            store.current(Kind::Run, "x").unwrap(),
            Latest::Manifest(Box::new(m2))
        );
        assert_eq!(store.current(Kind::Lib, "x").unwrap(), Latest::NoPackage);
        assert_eq!(store.list().unwrap().len(), 1);

        // Referenced blobs survive; after removal they go, but only past the grace.
        assert_eq!(
            store.collect_garbage(Duration::ZERO).unwrap(),
            GcReport::default()
        );
        assert!(store.remove(Kind::Run, "x").unwrap());
        assert!(!store.remove(Kind::Run, "x").unwrap());
        assert_eq!(
            store
                .collect_garbage(Duration::from_secs(3600))
                .unwrap()
                .blobs,
            0
        );
        assert_eq!(store.collect_garbage(Duration::ZERO).unwrap().blobs, 2);
        assert_eq!(store.blob_len(&a).unwrap(), None);

        // Numbers are never reused after a removal.
        put(&store, &a, encrypted_len(10));
        let m3 = store
            .publish(Kind::Run, "x", &request(&[(&a, 10)]), "n", 3)
            .unwrap();
        assert_eq!(m3.version, "3");
    }

    #[test]
    fn versions_promote_yank_delete() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let a = "aa".repeat(32);
        put(&store, &a, encrypted_len(10));
        let blobs = [(a.as_str(), 10)];
        let publish = |r: &PublishRequest| store.publish(Kind::Run, "x", r, "n", 1);

        // Explicit and automatic versions mix; numbers count past explicit ones.
        assert_eq!(publish(&request(&blobs)).unwrap().version, "1");
        assert_eq!(
            publish(&explicit(&blobs, "1.4.0", true)).unwrap().version,
            "1.4.0"
        );
        assert_eq!(publish(&explicit(&blobs, "7", false)).unwrap().version, "7");
        assert_eq!(latest(&store, "x").as_deref(), Some("1.4.0"));
        assert_eq!(publish(&request(&blobs)).unwrap().version, "8");
        assert!(matches!(
            publish(&explicit(&blobs, "1.4.0", true)),
            Err(StoreError::VersionExists { .. })
        ));

        // Rollback, then yanking the latest falls back to the newest not yanked.
        store.promote(Kind::Run, "x", "1").unwrap();
        assert_eq!(latest(&store, "x").as_deref(), Some("1"));
        let yanked = store.yank(Kind::Run, "x", "1", true).unwrap();
        assert!(yanked.yanked);
        assert_eq!(latest(&store, "x").as_deref(), Some("8"));
        assert!(matches!(
            store.promote(Kind::Run, "x", "1"),
            Err(StoreError::Yanked { .. })
        ));
        assert!(store.version(Kind::Run, "x", "1").unwrap().unwrap().yanked);
        assert!(matches!(
            store.promote(Kind::Run, "x", "9"),
            Err(StoreError::NoVersion { .. })
        ));

        // The latest is deleted only by force; a deleted string stays used.
        assert!(matches!(
            store.delete_version(Kind::Run, "x", "8", false),
            Err(StoreError::IsLatest { .. })
        ));
        store.delete_version(Kind::Run, "x", "8", true).unwrap();
        assert_eq!(latest(&store, "x").as_deref(), Some("7"));
        assert!(matches!(
            publish(&explicit(&blobs, "8", true)),
            Err(StoreError::VersionExists { .. })
        ));
        assert_eq!(publish(&request(&blobs)).unwrap().version, "9");

        store.set_localname(Kind::Run, "x", "x.bin").unwrap();
        let list = store.versions(Kind::Run, "x").unwrap().unwrap();
        let names: Vec<_> = list.versions.iter().map(|v| v.version.as_str()).collect();
        assert_eq!(names, ["1", "1.4.0", "7", "9"]);
        assert_eq!(list.latest.as_deref(), Some("9"));
        assert_eq!(list.localname.as_deref(), Some("x.bin"));
        assert_eq!(
            store
                .version(Kind::Run, "x", "7")
                .unwrap()
                .unwrap()
                .localname
                .as_deref(),
            Some("x.bin")
        );

        // Yanking every version leaves nothing promoted; the package still exists.
        for v in ["1.4.0", "7", "9"] {
            store.yank(Kind::Run, "x", v, true).unwrap();
        }
        assert_eq!(store.current(Kind::Run, "x").unwrap(), Latest::Unpromoted);
        assert_eq!(store.list().unwrap()[0].version, "");
        store.yank(Kind::Run, "x", "7", false).unwrap();
        assert_eq!(store.current(Kind::Run, "x").unwrap(), Latest::Unpromoted);

        // A local name alone makes a package, without making it listed.
        store.set_localname(Kind::Lib, "y", "y.txt").unwrap();
        assert_eq!(store.current(Kind::Lib, "y").unwrap(), Latest::Unpromoted);
        assert_eq!(store.list().unwrap().len(), 1);
        assert!(store.remove(Kind::Lib, "y").unwrap());
        assert_eq!(store.versions(Kind::Lib, "y").unwrap(), None);
    }

    /// A store written before explicit versions: numbers of removed versions stay used.
    #[test]
    fn old_store_is_migrated() {
        let dir = tempfile::tempdir().unwrap();
        {
            let conn = Connection::open(dir.path().join("meta.sqlite")).unwrap();
            conn.execute_batch(SCHEMA).unwrap();
            conn.execute_batch(
                "DROP TABLE used_versions; DROP TABLE packages;
                 INSERT INTO sequences VALUES ('run', 'x', 3);
                 INSERT INTO versions VALUES
                     ('run', 'x', '3', 3, '{\"kind\":\"run\",\"name\":\"x\",\"version\":\"3\",
                      \"published\":1,\"publisher\":\"n\",\"artifact_sha256\":\"ab\",\"size\":0,
                      \"python\":\"3.11\",\"blobs\":[]}', 1, 'n', 0);
                 INSERT INTO latest VALUES ('run', 'x', '3');",
            )
            .unwrap();
        }
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let m = store.version(Kind::Run, "x", "3").unwrap().unwrap();
        assert_eq!((m.format.as_str(), m.executable), ("pyk", true));
        let a = "aa".repeat(32);
        put(&store, &a, encrypted_len(10));
        for used in ["1", "2", "3"] {
            assert!(matches!(
                store.publish(Kind::Run, "x", &explicit(&[(&a, 10)], used, true), "n", 2),
                Err(StoreError::VersionExists { .. })
            ));
        }
        let next = store.publish(Kind::Run, "x", &request(&[(&a, 10)]), "n", 2);
        assert_eq!(next.unwrap().version, "4");
        drop(store);
        // Migrating is done once; opening again changes nothing.
        let store = EmbeddedStore::open(dir.path()).unwrap();
        assert_eq!(
            store
                .versions(Kind::Run, "x")
                .unwrap()
                .unwrap()
                .versions
                .len(),
            2
        );
    }

    #[test]
    fn one_server_per_store_and_debris_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        assert!(EmbeddedStore::open(dir.path()).is_err());
        drop(store);
        fs::write(dir.path().join("tmp/leftover.part"), b"partial").unwrap();
        let _store = EmbeddedStore::open(dir.path()).unwrap();
        assert!(!dir.path().join("tmp/leftover.part").exists());
    }
}
