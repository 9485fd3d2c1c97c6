//! The store in one directory a user can back up:
//!
//! ```text
//! PATH/meta.sqlite        the registry: versions, latest pointers, local names (WAL, synchronous=FULL)
//! PATH/blobs/ab/abcd…     blobs as uploaded (encrypted), named by their plaintext sha256
//! PATH/tmp/               uploads in progress
//! PATH/lock               held by the one server using the store
//! ```
//!
//! Crash safety comes from ordering: a blob becomes visible only by a rename after its
//! bytes (and then its directory) are fsynced, and a version only by the SQLite commit
//! that follows a check that all its blobs exist. A server killed at any moment leaves
//! at worst files in `tmp/`, cleared on the next start.
//!
//! - `blobs.rs`: the blob files and staged uploads ([`FsBlobs`]); `gc.rs` their sweep.
//! - `lock.rs`: one server per directory.
//! - `registry.rs`: the registry's reads and transactions ([`SqliteRegistry`]), built on
//!   the row queries of `queries.rs`; `schema.rs` its tables and migrations;
//!   `numbering.rs` version strings ever used and automatic version numbers;
//!   `records.rs` whole packages in and out, for `pyk migrate`.

use std::path::Path;

use super::{Result, Store};

mod blobs;
mod gc;
mod lock;
mod numbering;
mod queries;
mod records;
mod registry;
mod schema;
#[cfg(test)]
mod tests;

pub use blobs::FsBlobs;
pub use registry::SqliteRegistry;

/// Opens (creating if needed) the store at `root`: takes its lock, clears debris a
/// killed server left in `tmp/`, and opens (migrating if needed) its registry.
pub fn open(root: &Path) -> Result<Store> {
    let blobs = FsBlobs::open(root)?;
    let registry = SqliteRegistry::open(&root.join("meta.sqlite"))?;
    Ok(Store::new(
        Box::new(blobs),
        std::sync::Arc::new(registry),
        root.display().to_string(),
    ))
}
