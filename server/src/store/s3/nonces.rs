//! The nonces of write tokens, recorded in the bucket, so that a write token used at
//! one server is refused at every other (`pyk_s3::repo`'s nonces: a create-if-absent
//! per nonce).

use std::sync::Arc;

use futures_util::future::BoxFuture;
use pyk_crypto::token::Nonce;
use pyk_s3::repo::Repo;

use crate::nonces::{NonceError, Nonces, Seen};

pub struct S3Nonces(pub Arc<Repo>);

impl Nonces for S3Nonces {
    fn remember(
        &self,
        nonce: Nonce,
        until: u64,
        _now: u64,
    ) -> BoxFuture<'_, Result<Seen, NonceError>> {
        let repo = self.0.clone();
        Box::pin(async move {
            let first = tokio::task::spawn_blocking(move || repo.first_use(&nonce, until))
                .await
                .map_err(|e| NonceError::Backend(Box::new(e)))?
                .map_err(|e| NonceError::Backend(Box::new(e)))?;
            Ok(if first { Seen::First } else { Seen::Again })
        })
    }
}
