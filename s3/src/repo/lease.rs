//! A package's lease, for services that ignore conditional writes (Garage overwrote on
//! `If-None-Match: *` when tried): `leases/<kind>/<name>` names its holder and when it
//! expires.
//!
//! Without a conditional write nothing on such a service is atomic, so the lease rests
//! on timing: a writer that finds the lease free writes its claim, waits [`SETTLE`],
//! and holds the lease only if the claim is still its own. A rival that saw the lease
//! free before the claim landed wrote its own within [`SETTLE`] / 2 of looking (a
//! writer slower than that starts over), so the first writer's read-back sees it and
//! backs off. Each holder reads the lease again right before its final write
//! ([`Lease::confirm`]) and gives up if it changed hands or is near its expiry.
//!
//! The guarantee therefore holds while every request completes within [`SETTLE`] / 2,
//! the service reads back what was written (read-after-write consistency), and no
//! holder pauses for longer than [`TTL`]. Where conditional writes work (SeaweedFS,
//! AWS S3, MinIO, R2) none of this is used.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pyk_protocol::Kind;
use pyk_registry::{label, Refusal};
use serde::{Deserialize, Serialize};

use super::{jitter, Repo, Result};
use crate::{Condition, Fetched};

/// How long a lease lasts: far longer than any change to a package takes.
pub const TTL: Duration = Duration::from_secs(30);
/// How long a claim settles before it is read back.
pub const SETTLE: Duration = Duration::from_millis(500);
/// How long a writer waits for a lease held by another.
const WAIT: Duration = Duration::from_secs(60);

#[derive(Debug, Serialize, Deserialize)]
struct Holder {
    owner: String,
    /// Unix milliseconds.
    expires: u64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A held lease, given back when dropped.
pub struct Lease<'a> {
    repo: &'a Repo,
    key: String,
    /// This claim's holder name: unique per claim, so two threads of one process
    /// never both hold a lease.
    me: String,
    package: String,
    taken: Instant,
}

impl Repo {
    fn holder(&self, key: &str) -> Result<Option<Holder>> {
        Ok(match self.bucket.get_bytes(key, None)? {
            // A lease that does not parse is nobody's.
            Fetched::Found { bytes, .. } => serde_json::from_slice(&bytes).ok(),
            Fetched::Missing | Fetched::NotModified => None,
        })
    }

    /// Takes the package's lease, waiting up to a minute for another holder.
    pub(crate) fn lease(&self, kind: Kind, name: &str) -> Result<Lease<'_>> {
        let key = self.key(&format!("leases/{}/{name}", kind.as_str()));
        let package = label(kind, name);
        let me = format!("{}/{:016x}", self.owner, super::random());
        let deadline = Instant::now() + WAIT;
        loop {
            if Instant::now() > deadline {
                return Err(Refusal::Busy {
                    package,
                    why: format!("its lease stayed taken for {} s", WAIT.as_secs()),
                }
                .into());
            }
            let looked = Instant::now();
            if let Some(h) = self.holder(&key)? {
                if h.owner != me && h.expires > now_ms() {
                    std::thread::sleep(jitter(Duration::from_millis(100)));
                    continue;
                }
            }
            let claim = Holder {
                owner: me.clone(),
                expires: now_ms() + TTL.as_millis() as u64,
            };
            let body = serde_json::to_vec(&claim).expect("a lease always serializes");
            self.bucket.put(&key, &body, Condition::Always)?;
            if looked.elapsed() > SETTLE / 2 {
                // Too slow to know who saw what: look again.
                continue;
            }
            std::thread::sleep(SETTLE);
            if self.holder(&key)?.is_some_and(|h| h.owner == me) {
                return Ok(Lease {
                    repo: self,
                    key,
                    me,
                    package,
                    taken: looked,
                });
            }
        }
    }
}

impl Lease<'_> {
    /// Right before a write only the holder may make: still ours, and not about to
    /// expire.
    pub fn confirm(&self) -> Result<()> {
        let lost = |why: &str| Refusal::Busy {
            package: self.package.clone(),
            why: why.to_owned(),
        };
        if self.taken.elapsed() > TTL - SETTLE * 4 {
            return Err(lost("its lease ran out before the change was written").into());
        }
        match self.repo.holder(&self.key)? {
            Some(h) if h.owner == self.me => Ok(()),
            _ => Err(lost("its lease was taken over").into()),
        }
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        // Best effort: a lease left behind expires on its own.
        if let Ok(Some(h)) = self.repo.holder(&self.key) {
            if h.owner == self.me {
                let _ = self.repo.bucket.delete(&self.key);
            }
        }
    }
}
