//! The nonces of write tokens, recorded in the bucket, so that a write token used at
//! one server is refused at every other (`pyk_s3::repo`'s nonces: a create-if-absent
//! per nonce).
//!
//! Each server also deletes the nonce objects of long-expired tokens, at most once an
//! hour and in the background, so that the bucket does not collect one object per write
//! forever when nothing is removed (removals run the whole garbage collection).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures_util::future::BoxFuture;
use pyk_crypto::token::Nonce;
use pyk_s3::repo::Repo;

use crate::nonces::{NonceError, Nonces, Seen};

/// How often a server expires old nonce objects (seconds).
const EXPIRE_EVERY: u64 = 3600;

pub struct S3Nonces {
    repo: Arc<Repo>,
    /// When this server last expired nonces (Unix seconds; 0: not yet).
    expired_at: AtomicU64,
}

impl S3Nonces {
    pub fn new(repo: Arc<Repo>) -> S3Nonces {
        S3Nonces {
            repo,
            expired_at: AtomicU64::new(0),
        }
    }

    /// Starts an expiry in the background if the last is an hour old (the first one an
    /// hour after start: a fleet restarting together does not list at once).
    fn maybe_expire(&self, now: u64) {
        let last = self.expired_at.load(Ordering::Relaxed);
        if last == 0 {
            let _ = self
                .expired_at
                .compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed);
            return;
        }
        if now < last + EXPIRE_EVERY
            || self
                .expired_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let repo = self.repo.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = repo.expire_nonces() {
                crate::log::warning(format_args!(
                    "expiring old request-token records failed: {}",
                    crate::log::with_causes(&e)
                ));
            }
        });
    }
}

impl Nonces for S3Nonces {
    fn remember(
        &self,
        nonce: Nonce,
        until: u64,
        now: u64,
    ) -> BoxFuture<'_, Result<Seen, NonceError>> {
        self.maybe_expire(now);
        let repo = self.repo.clone();
        Box::pin(async move {
            let first = tokio::task::spawn_blocking(move || repo.first_use(&nonce, until))
                .await
                .map_err(|e| NonceError::Backend(Box::new(e)))?
                .map_err(|e| NonceError::Backend(Box::new(e)))?;
            Ok(if first { Seen::First } else { Seen::Again })
        })
    }
}
