//! Fernet keys.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE;
use base64::Engine;
use fernet::Fernet;
use pyk_protocol::digest::{hex, Sha256};

/// A Fernet key, kept in its base64url text form.
#[derive(Clone)]
pub struct Key {
    text: String,
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret; a short fingerprint tells keys apart in logs.
        write!(f, "Key({})", self.fingerprint())
    }
}

impl Key {
    /// A raw Fernet key (44 characters of base64url for 32 bytes) is used as it is; any
    /// other string is a passphrase, whose key is `base64url(sha256(passphrase))`.
    pub fn from_config(value: &str) -> Key {
        let value = value.trim();
        if Fernet::new(value).is_some() && value.len() == 44 {
            return Key {
                text: value.to_owned(),
            };
        }
        Key {
            text: URL_SAFE.encode(Sha256::of(value.as_bytes()).as_bytes()),
        }
    }

    /// A fresh random key.
    pub fn generate() -> Key {
        Key {
            text: Fernet::generate_key(),
        }
    }

    /// The key as it is written in config files.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The first 8 hex digits of the sha256 of the key: safe to show.
    pub fn fingerprint(&self) -> String {
        hex(&Sha256::of(self.text.as_bytes()).as_bytes()[..4])
    }

    pub(crate) fn fernet(&self) -> Fernet {
        Fernet::new(&self.text).expect("a Key always holds a valid Fernet key")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passphrase_and_raw_keys() {
        // base64url(sha256("secret")), as the original pyk derives it.
        let k = Key::from_config("secret");
        assert_eq!(k.as_str(), "K7gNU3sdo-OL0wNhqoVWhr3g6s1xYv72ol_pe_Unols=");
        assert_eq!(Key::from_config(k.as_str()).as_str(), k.as_str());
        let g = Key::generate();
        assert_eq!(Key::from_config(g.as_str()).as_str(), g.as_str());
        assert!(!format!("{g:?}").contains(g.as_str()));
    }
}
