//! Version strings and numbers: which strings a package ever used (never again, even
//! after the version or the package is removed), the next automatic version, and the
//! publish order.

use pyk_protocol::Kind;
use rusqlite::{params, Connection};

use crate::store::{label, Refusal, Result};

pub fn version_used(db: &Connection, kind: Kind, name: &str, version: &str) -> Result<bool> {
    Ok(db.query_row(
        "SELECT EXISTS (SELECT 1 FROM used_versions WHERE kind = ?1 AND name = ?2 AND version = ?3)",
        params![kind.as_str(), name, version],
        |r| r.get(0),
    )?)
}

/// The next automatic version: one more than the highest all-digit version string the
/// package ever used (explicit ones count too), then on past any string already taken
/// (`"0100"` is not `"100"`, but a number too long for a u64 is not counted).
pub fn next_number(db: &Connection, kind: Kind, name: &str) -> Result<String> {
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
        candidate = candidate
            .checked_add(1)
            .ok_or_else(|| Refusal::NumbersUsedUp {
                package: label(kind, name),
            })?;
        let text = candidate.to_string();
        if !version_used(db, kind, name, &text)? {
            return Ok(text);
        }
    }
}

/// The publish order of the next version: past every `seq` the package ever had.
pub fn next_seq(db: &Connection, kind: Kind, name: &str) -> Result<i64> {
    let last: i64 = db.query_row(
        "SELECT MAX(COALESCE((SELECT last FROM sequences WHERE kind = ?1 AND name = ?2), 0),
                    COALESCE((SELECT MAX(seq) FROM versions WHERE kind = ?1 AND name = ?2), 0))",
        params![kind.as_str(), name],
        |r| r.get(0),
    )?;
    Ok(last + 1)
}

/// Records that `version` is used and `seq` handed out, for good.
pub fn record(db: &Connection, kind: Kind, name: &str, version: &str, seq: i64) -> Result<()> {
    db.execute(
        "INSERT INTO used_versions (kind, name, version) VALUES (?1, ?2, ?3)",
        params![kind.as_str(), name, version],
    )?;
    db.execute(
        "INSERT INTO sequences (kind, name, last) VALUES (?1, ?2, ?3)
         ON CONFLICT (kind, name) DO UPDATE SET last = excluded.last",
        params![kind.as_str(), name, seq],
    )?;
    Ok(())
}
