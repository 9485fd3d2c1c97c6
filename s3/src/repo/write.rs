//! The one way a package changes: read its index, change it in memory, write it back
//! only if nobody wrote it in between (`If-Match` the ETag read, `If-None-Match: *` for
//! a package with no index yet), and start over when somebody did. In lease mode the
//! same steps run while holding the package's lease, which is confirmed just before the
//! write.

use std::time::Duration;

use pyk_protocol::Kind;
use pyk_registry::{label, Refusal};

use super::{jitter, Error, Index, Mode, Repo, Result};
use crate::{Condition, Fetched, Put};

/// How many times a change is tried against other writers before giving up.
const ATTEMPTS: u32 = 16;

impl Repo {
    /// The package's index and its ETag, if it has one.
    pub(crate) fn read_index(&self, kind: Kind, name: &str) -> Result<Option<(Index, String)>> {
        let key = self.index_key(kind, name);
        match self.bucket.get_bytes(&key, None)? {
            Fetched::Found { bytes, etag } => {
                let index = serde_json::from_slice(&bytes)
                    .map_err(|source| Error::Damaged { key, source })?;
                Ok(Some((index, etag)))
            }
            Fetched::Missing | Fetched::NotModified => Ok(None),
        }
    }

    /// Applies `apply` to the package's index (an empty one if it has none) and writes
    /// the result, retrying from a fresh read when another writer came first. `apply`
    /// may run more than once, and an error from it changes nothing.
    pub(crate) fn mutate<T>(
        &self,
        kind: Kind,
        name: &str,
        mut apply: impl FnMut(&mut Index) -> Result<T>,
    ) -> Result<T> {
        let lease = match self.mode {
            Mode::Lease => Some(self.lease(kind, name)?),
            Mode::Conditional => None,
        };
        let key = self.index_key(kind, name);
        for attempt in 0..ATTEMPTS {
            let (mut index, etag) = match self.read_index(kind, name)? {
                Some((index, etag)) => (index, Some(etag)),
                None => (Index::default(), None),
            };
            let value = apply(&mut index)?;
            index.generation += 1;
            let body = serde_json::to_vec(&index).expect("an index always serializes");
            let condition = match (&lease, &etag) {
                (Some(lease), _) => {
                    lease.confirm()?;
                    Condition::Always
                }
                (None, Some(etag)) => Condition::IfMatch(etag),
                (None, None) => Condition::IfAbsent,
            };
            match self.bucket.put(&key, &body, condition)? {
                Put::Stored { .. } => return Ok(value),
                Put::Conflict => {
                    std::thread::sleep(jitter(Duration::from_millis(10 * u64::from(attempt + 1))))
                }
            }
        }
        Err(Refusal::Busy {
            package: label(kind, name),
            why: format!("{ATTEMPTS} attempts in a row lost to other writers"),
        }
        .into())
    }

    /// Creates an object that never changes once written; false (leaving it alone) if
    /// one is there already. In lease mode the caller holds the lease, and the check
    /// comes before an unconditional write.
    pub(crate) fn create(&self, key: &str, body: &[u8]) -> Result<bool> {
        let condition = match self.mode {
            Mode::Conditional => Condition::IfAbsent,
            Mode::Lease if self.bucket.head(key)?.is_some() => return Ok(false),
            Mode::Lease => Condition::Always,
        };
        Ok(matches!(
            self.bucket.put(key, body, condition)?,
            Put::Stored { .. }
        ))
    }
}
