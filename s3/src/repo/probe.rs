//! Which [`Mode`] a service allows, learnt once at start: a probe object is created
//! with `If-None-Match: *`, then created again the same way, then replaced with an
//! `If-Match` naming an ETag it does not have. A service that honours conditions
//! refuses both; one that stores either ignores them.

use super::{Mode, Repo, Result};
use crate::{Condition, Put};

impl Repo {
    pub(crate) fn probe(&self) -> Result<Mode> {
        let key = self.key(&format!("probe/{}", self.owner));
        let first = self.bucket.put(&key, b"1", Condition::IfAbsent)?;
        let again = self.bucket.put(&key, b"2", Condition::IfAbsent)?;
        let stale = self
            .bucket
            .put(&key, b"3", Condition::IfMatch("\"not-the-etag\""))?;
        self.bucket.delete(&key)?;
        let honoured =
            matches!(first, Put::Stored { .. }) && again == Put::Conflict && stale == Put::Conflict;
        Ok(if honoured {
            Mode::Conditional
        } else {
            Mode::Lease
        })
    }
}
