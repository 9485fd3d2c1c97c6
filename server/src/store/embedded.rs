//! The store in one directory a user can back up:
//!
//! ```text
//! PATH/meta.sqlite        versions and latest pointers (WAL, synchronous=FULL)
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

use super::{BlobRead, GcReport, Result, StagedBlob, Store, StoreError};
use crate::api::{valid_sha256, Kind, Manifest, PackageSummary, PublishRequest};

/// The schema is ready for explicit version strings: `version` is the name users see,
/// `seq` orders versions, `latest` is a pointer a promote can move, `yanked` a flag,
/// and `sequences` remembers the last number handed out even after a package is
/// removed, so a version number is never reused.
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
        let conn = Connection::open(root.join("meta.sqlite"))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(Duration::from_secs(30))?;
        conn.execute_batch(SCHEMA)?;
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

fn manifest_of(row: &str) -> Result<Manifest> {
    Ok(serde_json::from_str(row)?)
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
        if !valid_sha256(sha256) {
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
            "SELECT v.manifest FROM latest l JOIN versions v USING (kind, name, version) ORDER BY l.kind, l.name",
        )?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for row in rows {
            let m = manifest_of(&row?)?;
            out.push(PackageSummary {
                kind: m.kind,
                name: m.name,
                version: m.version,
                size: m.size,
                published: m.published,
            });
        }
        Ok(out)
    }

    fn current(&self, kind: Kind, name: &str) -> Result<Option<Manifest>> {
        let row: Option<String> = self
            .db()
            .query_row(
                "SELECT v.manifest FROM latest l JOIN versions v USING (kind, name, version)
                 WHERE l.kind = ?1 AND l.name = ?2",
                params![kind.as_str(), name],
                |r| r.get(0),
            )
            .optional()?;
        row.as_deref().map(manifest_of).transpose()
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
        let manifest = Manifest {
            kind: kind.as_str().to_owned(),
            name: name.to_owned(),
            version: seq.to_string(),
            published: now,
            publisher: publisher.to_owned(),
            artifact_sha256: request.artifact_sha256.clone(),
            size: request.size,
            python: request.python.clone(),
            blobs: request.blobs.clone(),
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
            "INSERT INTO sequences (kind, name, last) VALUES (?1, ?2, ?3)
             ON CONFLICT (kind, name) DO UPDATE SET last = excluded.last",
            params![kind.as_str(), name, seq],
        )?;
        tx.execute(
            "INSERT INTO latest (kind, name, version) VALUES (?1, ?2, ?3)
             ON CONFLICT (kind, name) DO UPDATE SET version = excluded.version",
            params![kind.as_str(), name, manifest.version],
        )?;
        tx.commit()?;
        Ok(manifest)
    }

    fn remove(&self, kind: Kind, name: &str) -> Result<bool> {
        let mut db = self.db();
        let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "DELETE FROM latest WHERE kind = ?1 AND name = ?2",
            params![kind.as_str(), name],
        )?;
        let removed = tx.execute(
            "DELETE FROM versions WHERE kind = ?1 AND name = ?2",
            params![kind.as_str(), name],
        )?;
        tx.commit()?;
        Ok(removed > 0)
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
                if valid_sha256(sha) && !referenced.contains(sha) && old(&meta) {
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
    use crate::api::BlobRef;

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
        assert_eq!(store.current(Kind::Run, "x").unwrap(), Some(m2));
        assert_eq!(store.current(Kind::Lib, "x").unwrap(), None);
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
