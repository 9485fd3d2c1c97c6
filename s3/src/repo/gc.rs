//! Garbage collection in a bucket: blobs that no version manifest names and that are
//! older than a grace period go, and so do nonces long expired.
//!
//! Servers sharing a bucket hold no common lock, so safety comes from ordering: a
//! publish writes its manifest BEFORE it checks its blobs, and a sweep reads every
//! manifest (listed or not: one a publish is writing counts) before it deletes, then
//! once more the manifests written within the grace period, right before deleting. A
//! publish whose blob check comes after a deletion fails cleanly (nothing is listed);
//! the one case left is a publish that reuses an old, unreferenced blob and writes its
//! manifest and checks the blob in the milliseconds between the sweep's last read and
//! its delete.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pyk_protocol::api::Manifest;
use pyk_protocol::Sha256;
use pyk_registry::GcReport;

use super::{Repo, Result};
use crate::Fetched;

/// How long a nonce object is kept: request tokens live minutes at most.
const NONCE_KEEP: Duration = Duration::from_secs(3600);

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Repo {
    /// Every blob named by a version manifest in the bucket written at or after
    /// `since` (Unix seconds; 0 for all).
    fn manifests_since(&self, since: u64) -> Result<HashSet<Sha256>> {
        let mut referenced = HashSet::new();
        for object in self.bucket.list(&self.key("packages/"), None)?.objects {
            if !object.key.contains("/versions/") || object.modified < since {
                continue;
            }
            // Deleted since the listing: it protects nothing any more.
            let Fetched::Found { bytes, .. } = self.bucket.get_bytes(&object.key, None)? else {
                continue;
            };
            // A manifest pyk cannot read names no blob pyk could serve.
            if let Ok(m) = serde_json::from_slice::<Manifest>(&bytes) {
                referenced.extend(
                    m.blobs
                        .iter()
                        .chain(&m.api)
                        .filter_map(|b| b.sha256.parse::<Sha256>().ok()),
                );
            }
        }
        Ok(referenced)
    }

    /// Every blob some version manifest names.
    pub fn referenced(&self) -> Result<HashSet<Sha256>> {
        self.manifests_since(0)
    }

    /// Deletes the blobs not in `keep` (nor named by a manifest written within
    /// `grace`) that were stored more than `grace` ago, and nonces long expired.
    pub fn sweep(&self, keep: &HashSet<Sha256>, grace: Duration) -> Result<GcReport> {
        let cutoff = now().saturating_sub(grace.as_secs());
        let dir = self.key("blobs/");
        let candidates: Vec<_> = self
            .bucket
            .list(&dir, None)?
            .objects
            .into_iter()
            .filter(|o| o.modified < cutoff || grace.is_zero())
            .filter_map(|o| {
                let sha = o.key.strip_prefix(&dir)?.parse::<Sha256>().ok()?;
                (!keep.contains(&sha)).then_some((sha, o))
            })
            .collect();
        let mut report = GcReport::default();
        if !candidates.is_empty() {
            let late = self.manifests_since(cutoff.saturating_sub(60))?;
            for (sha, object) in candidates {
                if late.contains(&sha) {
                    continue;
                }
                self.bucket.delete(&object.key)?;
                report.blobs += 1;
                report.bytes += object.len;
            }
        }
        self.expire_nonces()?;
        Ok(report)
    }

    /// Deletes nonce objects older than [`NONCE_KEEP`] (their tokens expired long ago);
    /// how many went.
    pub fn expire_nonces(&self) -> Result<u64> {
        let expired = now().saturating_sub(NONCE_KEEP.as_secs());
        let mut gone = 0;
        for nonce in self.bucket.list(&self.key("nonces/"), None)?.objects {
            if nonce.modified < expired {
                self.bucket.delete(&nonce.key)?;
                gone += 1;
            }
        }
        Ok(gone)
    }
}
