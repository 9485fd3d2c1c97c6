//! The registry's tables, and the migrations that bring an older store up to date.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};

use crate::store::Result;

/// `version` is the name users see, `seq` orders versions (the publish order), `latest`
/// a pointer that publish, promote, yank and delete move, `yanked` a flag, `promoted`
/// (added by migration 3) when the version was last made latest. What never
/// goes away: `sequences` remembers the last `seq` handed out and `used_versions` every
/// version string ever published, even after a version or the whole package is removed,
/// so a version string can never name other bytes. `packages` holds what belongs to a
/// package rather than a version (its local file name), and exists only once set.
pub(super) const SCHEMA: &str = "
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

/// `PRAGMA user_version` once every migration has run.
const SCHEMA_VERSION: i64 = 3;

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

/// Signatures (issue 9). A version's signature lives inside its manifest JSON, which
/// needs no column. The signed pointer of the move that set `latest` is kept beside the
/// pointer (`issued`, `key`, `sig`, all NULL for an unsigned move), and `sequences`,
/// which never goes away, keeps the newest `issued` the package ever accepted, so that
/// pointers only go forward even across a cleared `latest`.
const MIGRATE_2: &str = "
ALTER TABLE latest ADD COLUMN issued INTEGER;
ALTER TABLE latest ADD COLUMN key TEXT;
ALTER TABLE latest ADD COLUMN sig TEXT;
ALTER TABLE sequences ADD COLUMN issued INTEGER NOT NULL DEFAULT 0;
PRAGMA user_version = 2;
";

/// Retention (issue 23): when each version was last made latest, NULL for never (or
/// before this column: such a version counts as never promoted until it is again).
const MIGRATE_3: &str = "
ALTER TABLE versions ADD COLUMN promoted INTEGER;
PRAGMA user_version = 3;
";

/// Opens the registry's database with the settings every connection needs, creating
/// and migrating its tables as needed.
pub fn connect(path: &Path) -> Result<Connection> {
    let mut conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(Duration::from_secs(30))?;
    migrate(&mut conn)?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch(SCHEMA)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version < 1 {
        tx.execute_batch(MIGRATE_1)?;
    }
    if version < 2 {
        tx.execute_batch(MIGRATE_2)?;
    }
    if version < SCHEMA_VERSION {
        tx.execute_batch(MIGRATE_3)?;
    }
    tx.commit()?;
    Ok(())
}
