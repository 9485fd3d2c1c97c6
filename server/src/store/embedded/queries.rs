//! The registry's row-level queries, shared by its reads and its transactions.

use pyk_protocol::api::{LatestPointer, Manifest, Signature};
use pyk_protocol::Kind;
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension};

use crate::store::{check_pointer, Move, Refusal, Result, StoreError};

pub fn manifest_of(row: &str) -> Result<Manifest> {
    Ok(serde_json::from_str(row)?)
}

/// The stored manifest holds what never changes; the yanked flag and the package's
/// local name are kept apart (they do change) and filled in on the way out.
pub fn compose(row: &str, yanked: bool, localname: Option<String>) -> Result<Manifest> {
    let mut manifest = manifest_of(row)?;
    manifest.yanked = yanked;
    manifest.localname = localname;
    Ok(manifest)
}

/// A version's stored manifest and yanked flag.
pub fn version_row(
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

/// Every version of a package, oldest first: its stored manifest text and whether it is
/// yanked.
/// Every version's manifest, yanked flag and when it was last made latest, in publish
/// order.
pub fn version_rows(
    db: &Connection,
    kind: Kind,
    name: &str,
) -> Result<Vec<(String, bool, Option<u64>)>> {
    let mut stmt = db.prepare(
        "SELECT manifest, yanked, promoted FROM versions WHERE kind = ?1 AND name = ?2
         ORDER BY seq",
    )?;
    let rows = stmt.query_map(params![kind.as_str(), name], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, bool>(1)?,
            r.get::<_, Option<i64>>(2)?.map(|at| at.max(0) as u64),
        ))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn localname(db: &Connection, kind: Kind, name: &str) -> Result<Option<String>> {
    Ok(db
        .query_row(
            "SELECT localname FROM packages WHERE kind = ?1 AND name = ?2",
            params![kind.as_str(), name],
            |r| r.get(0),
        )
        .optional()?
        .flatten())
}

pub fn latest_version(db: &Connection, kind: Kind, name: &str) -> Result<Option<String>> {
    Ok(db
        .query_row(
            "SELECT version FROM latest WHERE kind = ?1 AND name = ?2",
            params![kind.as_str(), name],
            |r| r.get(0),
        )
        .optional()?)
}

/// Whether the package has a version or a record of its own.
pub fn package_exists(db: &Connection, kind: Kind, name: &str) -> Result<bool> {
    Ok(db.query_row(
        "SELECT EXISTS (SELECT 1 FROM versions WHERE kind = ?1 AND name = ?2)
             OR EXISTS (SELECT 1 FROM packages WHERE kind = ?1 AND name = ?2)",
        params![kind.as_str(), name],
        |r| r.get(0),
    )?)
}

/// Moves `latest` (checking `pointer` against the move, see [`check_pointer`]) and keeps
/// the pointer beside it; a signed move also raises the package's floor.
/// Moves `latest` as `to` says, once `pointer` is found to fit the move, and records
/// when the version it now points at was made latest (what retention reads).
pub fn move_latest(
    db: &Connection,
    kind: Kind,
    name: &str,
    to: Move<'_>,
    pointer: Option<&LatestPointer>,
) -> Result<()> {
    check_pointer(kind, name, pointer, to, latest_floor(db, kind, name)?)?;
    match to {
        Move::Stays => {}
        Move::To(v) => {
            db.execute(
                "UPDATE versions SET promoted = ?4 WHERE kind = ?1 AND name = ?2 AND version = ?3",
                params![kind.as_str(), name, v, unix_now() as i64],
            )?;
            db.execute(
                "INSERT INTO latest (kind, name, version, issued, key, sig)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (kind, name) DO UPDATE SET version = excluded.version,
                     issued = excluded.issued, key = excluded.key, sig = excluded.sig",
                params![
                    kind.as_str(),
                    name,
                    v,
                    pointer.map(|p| p.issued as i64),
                    pointer.map(|p| &p.signature.key),
                    pointer.map(|p| &p.signature.sig)
                ],
            )?;
        }
        Move::Cleared => {
            db.execute(
                "DELETE FROM latest WHERE kind = ?1 AND name = ?2",
                params![kind.as_str(), name],
            )?;
        }
    }
    if let Some(p) = pointer {
        db.execute(
            "UPDATE sequences SET issued = ?3 WHERE kind = ?1 AND name = ?2",
            params![kind.as_str(), name, p.issued as i64],
        )?;
    }
    Ok(())
}

/// The newest `issued` of a pointer the package accepted (0 if none).
pub fn latest_floor(db: &Connection, kind: Kind, name: &str) -> Result<u64> {
    let floor: Option<i64> = db
        .query_row(
            "SELECT issued FROM sequences WHERE kind = ?1 AND name = ?2",
            params![kind.as_str(), name],
            |r| r.get(0),
        )
        .optional()?;
    Ok(floor.unwrap_or(0) as u64)
}

/// The signed pointer kept beside `latest`, if the move that set it was signed.
pub fn latest_pointer(db: &Connection, kind: Kind, name: &str) -> Result<Option<LatestPointer>> {
    Ok(db
        .query_row(
            "SELECT version, issued, key, sig FROM latest WHERE kind = ?1 AND name = ?2
             AND issued IS NOT NULL AND key IS NOT NULL AND sig IS NOT NULL",
            params![kind.as_str(), name],
            |r| {
                Ok(LatestPointer {
                    version: r.get(0)?,
                    issued: r.get::<_, i64>(1)? as u64,
                    signature: Signature {
                        key: r.get(2)?,
                        sig: r.get(3)?,
                    },
                })
            },
        )
        .optional()?)
}

/// Where `latest` goes when the version it points at (`leaving`) is yanked or deleted:
/// the newest other version, by publish order, that is not yanked, or none.
pub fn fall_back(db: &Connection, kind: Kind, name: &str, leaving: &str) -> Result<Option<String>> {
    Ok(db
        .query_row(
            "SELECT version FROM versions
             WHERE kind = ?1 AND name = ?2 AND version <> ?3 AND yanked = 0
             ORDER BY seq DESC LIMIT 1",
            params![kind.as_str(), name, leaving],
            |r| r.get(0),
        )
        .optional()?)
}

pub fn no_version(kind: Kind, name: &str, version: &str) -> StoreError {
    Refusal::no_version(kind, name, version).into()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
