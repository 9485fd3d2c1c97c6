//! Every request token is good for one request: its nonce (the Fernet IV) is remembered
//! until the token expires, and a second request with it is refused.
//!
//! [`Nonces`] is the seam for a store shared by several servers (one server's memory
//! cannot stop a token replayed to another); [`MemoryNonces`] is the one-process
//! implementation. Its memory is bounded: at most `capacity` nonces (~60 bytes each),
//! spread over shards by the nonce's first byte. A nonce lives until its token's time
//! plus [`TTL_SECS`](pyk_crypto::token::TTL_SECS) + 1 s, so the bound is on requests per
//! two minutes at worst (per minute for clocks in step): the default
//! [`DEFAULT_CAPACITY`] of 2,000,000 (~120 MB at most) is ~33,000 requests a second for
//! a minute. When it is full the server refuses new tokens (503) rather than forget
//! one early, which would let it be replayed.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

use futures_util::future::BoxFuture;
use pyk_crypto::token::Nonce;

/// The default bound on remembered nonces.
pub const DEFAULT_CAPACITY: usize = 2_000_000;
const SHARDS: usize = 16;

/// Whether a nonce was new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    First,
    Again,
}

#[derive(Debug, thiserror::Error)]
pub enum NonceError {
    /// Too many live nonces to remember one more.
    #[error("the server has taken too many requests in the last minute ({0} tokens remembered); try again shortly")]
    Full(usize),
    /// A shared store could not be asked.
    #[error("the store of used request tokens failed")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Remembers the nonces of accepted request tokens.
pub trait Nonces: Send + Sync {
    /// Records `nonce` as used until `until` (Unix seconds; `now` is the server's time).
    /// [`Seen::Again`] if it was already recorded and has not expired: the request is
    /// then a replay. Must be atomic: of two concurrent calls with one nonce, one sees
    /// [`Seen::Again`]. A future, so a shared implementation can ask over the network.
    fn remember(
        &self,
        nonce: Nonce,
        until: u64,
        now: u64,
    ) -> BoxFuture<'_, Result<Seen, NonceError>>;
}

/// Nonces in this process's memory.
pub struct MemoryNonces {
    shards: Vec<Mutex<Shard>>,
    per_shard: usize,
}

#[derive(Default)]
struct Shard {
    live: HashSet<Nonce>,
    /// Expiry second → the nonces that expire then, so expiring costs no scan.
    expiring: BTreeMap<u64, Vec<Nonce>>,
}

impl Shard {
    fn expire(&mut self, now: u64) {
        while let Some(entry) = self.expiring.first_entry() {
            if *entry.key() >= now {
                break;
            }
            for nonce in entry.remove() {
                self.live.remove(&nonce);
            }
        }
    }
}

impl MemoryNonces {
    /// Remembers at most `capacity` nonces at once.
    pub fn new(capacity: usize) -> MemoryNonces {
        MemoryNonces {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
        }
    }

    fn record(&self, nonce: Nonce, until: u64, now: u64) -> Result<Seen, NonceError> {
        let shard = &self.shards[usize::from(nonce[0]) % SHARDS];
        // A panic cannot leave a shard half-updated in a way that matters: at worst a
        // nonce is in `live` without an expiry, i.e. remembered for good.
        let mut shard = shard.lock().unwrap_or_else(|e| e.into_inner());
        shard.expire(now);
        if shard.live.contains(&nonce) {
            return Ok(Seen::Again);
        }
        if shard.live.len() >= self.per_shard {
            return Err(NonceError::Full(self.per_shard * SHARDS));
        }
        shard.live.insert(nonce);
        shard.expiring.entry(until).or_default().push(nonce);
        Ok(Seen::First)
    }
}

impl Nonces for MemoryNonces {
    fn remember(
        &self,
        nonce: Nonce,
        until: u64,
        now: u64,
    ) -> BoxFuture<'_, Result<Seen, NonceError>> {
        Box::pin(std::future::ready(self.record(nonce, until, now)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_until_expiry_and_bounded() {
        let nonces = MemoryNonces::new(SHARDS * 2);
        let a = [1u8; 16];
        assert_eq!(nonces.record(a, 100, 50).unwrap(), Seen::First);
        assert_eq!(nonces.record(a, 100, 99).unwrap(), Seen::Again);
        assert_eq!(nonces.record(a, 100, 100).unwrap(), Seen::Again);
        // Gone once expired: the token's time check refuses it from then on anyway.
        assert_eq!(nonces.record(a, 200, 101).unwrap(), Seen::First);
        // Two per shard: a third nonce of shard 1 is refused, not remembered.
        let mut b = a;
        b[1] = 2;
        assert_eq!(nonces.record(b, 200, 101).unwrap(), Seen::First);
        let mut c = a;
        c[1] = 3;
        assert!(matches!(
            nonces.record(c, 200, 101),
            Err(NonceError::Full(_))
        ));
        assert_eq!(nonces.record(c, 300, 201).unwrap(), Seen::First);
    }
}
