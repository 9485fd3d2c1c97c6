//! Every request carries `Authorization: Pyk <token>` bound to its method and path (see
//! [`pyk_crypto::token`]). Reads take the read or the write key; anything that changes
//! the repository takes the write key.

use axum::http::{HeaderValue, Method};
use pyk_crypto::{token, Key};

pub struct Keys {
    pub read: Key,
    pub write: Key,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Denied {
    /// No token, or one not made with a key of this server for this request, or expired.
    Unauthorized,
    /// A valid read token for a write.
    Forbidden,
}

impl Keys {
    /// `path` is the path and query exactly as the client sent them (what it signed).
    pub fn check(
        &self,
        method: &Method,
        path: &str,
        header: Option<&HeaderValue>,
    ) -> Result<(), Denied> {
        let header = header
            .and_then(|h| h.to_str().ok())
            .ok_or(Denied::Unauthorized)?;
        let m = method.as_str();
        if token::verify(&self.write, header, m, path) {
            return Ok(());
        }
        if self.read.as_str() != self.write.as_str() && token::verify(&self.read, header, m, path) {
            return if method == Method::GET || method == Method::HEAD {
                Ok(())
            } else {
                Err(Denied::Forbidden)
            };
        }
        Err(Denied::Unauthorized)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes() {
        let keys = Keys {
            read: Key::generate(),
            write: Key::generate(),
        };
        let h =
            |k: &Key, m: &str, p: &str| HeaderValue::try_from(token::authorization(k, m, p)).ok();
        let get = h(&keys.read, "GET", "/v1/packages");
        assert_eq!(
            keys.check(&Method::GET, "/v1/packages", get.as_ref()),
            Ok(())
        );
        assert_eq!(
            keys.check(&Method::GET, "/v1/packages?x", get.as_ref()),
            Err(Denied::Unauthorized)
        );
        let del = h(&keys.read, "DELETE", "/v1/packages/run/x");
        assert_eq!(
            keys.check(&Method::DELETE, "/v1/packages/run/x", del.as_ref()),
            Err(Denied::Forbidden)
        );
        let del = h(&keys.write, "DELETE", "/v1/packages/run/x");
        assert_eq!(
            keys.check(&Method::DELETE, "/v1/packages/run/x", del.as_ref()),
            Ok(())
        );
        assert_eq!(
            keys.check(&Method::GET, "/v1/packages", None),
            Err(Denied::Unauthorized)
        );
        let other = h(&Key::generate(), "GET", "/v1/packages");
        assert_eq!(
            keys.check(&Method::GET, "/v1/packages", other.as_ref()),
            Err(Denied::Unauthorized)
        );
    }
}
