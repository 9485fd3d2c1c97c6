//! The registry's row-level queries, shared by its reads and its transactions.

use pyk_protocol::api::Manifest;
use pyk_protocol::Kind;
use rusqlite::{params, Connection, OptionalExtension};

use crate::store::{label, Result, StoreError};

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

pub fn set_latest(db: &Connection, kind: Kind, name: &str, version: Option<&str>) -> Result<()> {
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
pub fn fall_back(db: &Connection, kind: Kind, name: &str, leaving: &str) -> Result<()> {
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

pub fn no_version(kind: Kind, name: &str, version: &str) -> StoreError {
    StoreError::NoVersion {
        package: label(kind, name),
        version: version.to_owned(),
    }
}
