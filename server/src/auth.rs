//! Every request carries `Authorization: Pyk <token>` (see [`pyk_crypto::token`]), made
//! for exactly this request: its method, its path and query as sent, and its body. Reads
//! take the read or the write key; anything that changes the repository takes the write
//! key. A token is good once (its nonce is remembered, see [`crate::nonces`]) and only
//! within [`TTL_SECS`](pyk_crypto::token::TTL_SECS) of the server's time, either way.
//!
//! The body cannot be checked before it is read, so admitting a request yields a
//! [`Binding`]: the body's digest, which [`crate::binding::Bound`] checks as the handler
//! reads it (a handler acts only on a whole body), or, for a blob upload, the blob's id,
//! which the upload checks against the decrypted stream.

use std::sync::Arc;

use axum::http::{HeaderValue, Method};
use pyk_crypto::token::{self, Skew};
use pyk_crypto::Key;
use pyk_protocol::request::blob_put;
use pyk_protocol::Sha256;

use crate::nonces::{NonceError, Nonces, Seen};

pub struct Keys {
    pub read: Key,
    pub write: Key,
}

/// How the body of an admitted request is bound to its token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    /// `PUT /v1/blobs/<sha256>`: the path names the plaintext, which the upload checks.
    Path,
    /// The body must hash to this (`None`: there is no body).
    Body(Option<Sha256>),
}

#[derive(Debug)]
pub enum Denied {
    /// No token, or not one made with a key of this server for this request.
    Unauthorized,
    /// A valid read token for a write.
    Forbidden,
    /// A token made too far from the server's time.
    Clock(Skew),
    /// A token used before.
    Replayed,
    /// The server cannot remember one more token now.
    Busy(NonceError),
}

impl Denied {
    /// How `/metrics` counts it.
    pub fn kind(&self) -> &'static str {
        match self {
            Denied::Unauthorized => "unauthorized",
            Denied::Forbidden => "forbidden",
            Denied::Clock(_) => "clock",
            Denied::Replayed => "replayed",
            Denied::Busy(_) => "busy",
        }
    }
}

pub struct Auth {
    pub keys: Keys,
    pub nonces: Arc<dyn Nonces>,
    /// For a store several servers share (a bucket): where write tokens' nonces are
    /// recorded too, so a write token used at one server is refused at every other.
    /// Reads stay with this server's memory: recording every update check in the
    /// bucket would make each one a write, and a replayed read only reads.
    pub shared: Option<Arc<dyn Nonces>>,
}

impl Auth {
    /// Admits a request or says why not. `target` is the path and query exactly as the
    /// client sent them (what it signed); `now` the server's Unix time.
    pub async fn check(
        &self,
        method: &Method,
        target: &str,
        header: Option<&HeaderValue>,
        now: u64,
    ) -> Result<Binding, Denied> {
        let header = header
            .and_then(|h| h.to_str().ok())
            .ok_or(Denied::Unauthorized)?;
        let token = token::parse(header).map_err(|_| Denied::Unauthorized)?;
        let read = *method == Method::GET || *method == Method::HEAD;
        let separate = self.keys.read.as_str() != self.keys.write.as_str();
        // The key the request should have used first: one HMAC for honest clients.
        let (first, second) = if read {
            (&self.keys.read, separate.then_some(&self.keys.write))
        } else {
            (&self.keys.write, separate.then_some(&self.keys.read))
        };
        let (claims, by_read_key) = match token.open(first) {
            Some(c) => (c, read),
            None => match second.and_then(|k| token.open(k)) {
                Some(c) => (c, !read),
                None => return Err(Denied::Unauthorized),
            },
        };
        if claims.method != method.as_str() || claims.target != target {
            return Err(Denied::Unauthorized);
        }
        if !read && by_read_key && separate {
            return Err(Denied::Forbidden);
        }
        let binding = match blob_put(method.as_str(), target) {
            Some(blob) if claims.body == Some(blob) => Binding::Path,
            Some(_) => return Err(Denied::Unauthorized),
            None => Binding::Body(claims.body),
        };
        token::check_time(token.timestamp, now).map_err(Denied::Clock)?;
        let until = token::remember_until(token.timestamp);
        let shared = self.shared.as_ref().filter(|_| !read);
        for nonces in std::iter::once(&self.nonces).chain(shared) {
            match nonces.remember(token.nonce, until, now).await {
                Ok(Seen::First) => {}
                Ok(Seen::Again) => return Err(Denied::Replayed),
                Err(e) => return Err(Denied::Busy(e)),
            }
        }
        Ok(binding)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nonces::MemoryNonces;

    fn block<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn reads_writes_bodies_replays_and_time() {
        let auth = Auth {
            keys: Keys {
                read: Key::generate(),
                write: Key::generate(),
            },
            nonces: Arc::new(MemoryNonces::new(1000)),
            shared: None,
        };
        let now = 1_000_000;
        let h = |k: &Key, m: &str, p: &str, body: Option<&Sha256>| {
            HeaderValue::try_from(token::authorization_at(k, m, p, body, now)).ok()
        };
        let check = |m: Method, p: &str, header: &Option<HeaderValue>| {
            block(auth.check(&m, p, header.as_ref(), now))
        };
        let get = h(&auth.keys.read, "GET", "/v1/packages", None);
        assert_eq!(
            check(Method::GET, "/v1/packages", &get).unwrap(),
            Binding::Body(None)
        );
        assert!(matches!(
            check(Method::GET, "/v1/packages", &get),
            Err(Denied::Replayed)
        ));
        let get = h(&auth.keys.read, "GET", "/v1/packages", None);
        assert!(matches!(
            check(Method::GET, "/v1/packages?x", &get),
            Err(Denied::Unauthorized)
        ));
        let body = Sha256::of(b"{}");
        let del = h(&auth.keys.read, "POST", "/v1/p", Some(&body));
        assert!(matches!(
            check(Method::POST, "/v1/p", &del),
            Err(Denied::Forbidden)
        ));
        let post = h(&auth.keys.write, "POST", "/v1/p", Some(&body));
        assert_eq!(
            check(Method::POST, "/v1/p", &post).unwrap(),
            Binding::Body(Some(body))
        );
        // A blob upload is bound by its path.
        let blob = format!("/v1/blobs/{body}");
        let put = h(&auth.keys.write, "PUT", &blob, Some(&body));
        assert_eq!(check(Method::PUT, &blob, &put).unwrap(), Binding::Path);
        let put = h(&auth.keys.write, "PUT", &blob, None);
        assert!(matches!(
            check(Method::PUT, &blob, &put),
            Err(Denied::Unauthorized)
        ));
        assert!(matches!(
            check(Method::GET, "/v1/packages", &None),
            Err(Denied::Unauthorized)
        ));
        // Out of the window, either way.
        for offset in [-61i64, 61] {
            let at = now.checked_add_signed(offset).unwrap();
            let t = token::authorization_at(&auth.keys.read, "GET", "/v1/x", None, at);
            let t = HeaderValue::try_from(t).ok();
            match check(Method::GET, "/v1/x", &t) {
                Err(Denied::Clock(skew)) => assert_eq!(skew.0, offset),
                other => panic!("{other:?}"),
            }
        }
    }
}
