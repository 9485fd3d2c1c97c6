//! Which stored blobs are known to be whole, so that `HEAD /v1/blobs/<sha>` says "yes"
//! only for a blob a client may skip uploading.
//!
//! A blob is whole when it was verified (decrypted with the read key, its plaintext
//! hashed to its id) since it last changed: an upload verifies what it stores, and
//! otherwise the first HEAD after a change re-reads the stored bytes. "Changed" is the
//! store's [`BlobStat::stamp`] (for files: inode, mtime and ctime, so any write through
//! the file system, even one that keeps the length or resets the mtime, shows).
//! Damage that bypasses the file system (a failing disk) does not move the stamp, so an
//! answer is also re-checked once it is [`REVERIFY_AFTER`] old. A damaged blob is
//! answered 404, so a publisher uploads it again, and the upload replaces it.
//!
//! [`BlobStat::stamp`]: crate::store::BlobStat::stamp

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pyk_crypto::blob::BlobReader;
use pyk_crypto::Key;
use pyk_protocol::Sha256;
use tokio::sync::Semaphore;

use crate::catalog::blocking;
use crate::limits::MAX_VERIFYING;
use crate::store::{self, Store};

/// How long a verification stands when the stamp has not moved.
pub const REVERIFY_AFTER: Duration = Duration::from_secs(24 * 3600);
/// Past this many entries the record starts over (each costs one re-read later).
const MAX_ENTRIES: usize = 1_000_000;

pub struct Verified {
    known: Mutex<HashMap<Sha256, (String, Instant)>>,
    /// Re-reads at once: HEADs of unverified blobs cannot take every blocking thread.
    reading: Arc<Semaphore>,
}

impl Default for Verified {
    fn default() -> Verified {
        Verified {
            known: Mutex::default(),
            reading: Arc::new(Semaphore::new(MAX_VERIFYING)),
        }
    }
}

impl Verified {
    fn known(&self) -> std::sync::MutexGuard<'_, HashMap<Sha256, (String, Instant)>> {
        // Entries are inserted whole; a poisoned map is still consistent.
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records that the blob, as `stamp` describes it, is whole.
    pub fn record(&self, sha256: Sha256, stamp: String) {
        let mut known = self.known();
        if known.len() >= MAX_ENTRIES {
            known.clear();
        }
        known.insert(sha256, (stamp, Instant::now()));
    }

    /// The stored length of the blob if it is stored and whole; `None` if it is absent
    /// or damaged.
    pub async fn whole(
        &self,
        store: &Arc<Store>,
        key: &Key,
        sha256: Sha256,
    ) -> store::Result<Option<u64>> {
        let s = store.clone();
        let Some(stat) = blocking(move || s.blobs().stat(&sha256)).await? else {
            return Ok(None);
        };
        let fresh = self
            .known()
            .get(&sha256)
            .is_some_and(|(stamp, when)| *stamp == stat.stamp && when.elapsed() < REVERIFY_AFTER);
        if fresh {
            return Ok(Some(stat.len));
        }
        let _slot = self.reading.clone().acquire_owned().await;
        let (s, key) = (store.clone(), key.clone());
        let intact = blocking(move || {
            let Some(blob) = s.blobs().read(&sha256)? else {
                return Ok(false);
            };
            let mut reader = BlobReader::new(&key, blob.reader);
            Ok(match io::copy(&mut reader, &mut io::sink()) {
                Ok(_) => reader.sha256() == Some(sha256),
                Err(e) if pyk_crypto::blob::refusal(&e).is_some() => false,
                Err(e) => return Err(e.into()),
            })
        })
        .await?;
        if !intact {
            crate::log::warning(format_args!(
                "stored blob {sha256} is damaged; the next upload of it replaces it"
            ));
            self.known().remove(&sha256);
            return Ok(None);
        }
        self.record(sha256, stat.stamp);
        Ok(Some(stat.len))
    }
}
