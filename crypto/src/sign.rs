//! Publisher signatures: ed25519 keys in pyk's text forms, signing and verifying
//! statements (see `pyk_protocol::statement`).
//!
//! Text forms, so a key can be pasted into a config file:
//! - public: `pyk-ed25519:<base64url of the 32-byte key>` (no padding);
//! - private: `pyk-ed25519-secret:<base64url of the 32-byte seed>`, in a file of mode 0600;
//! - signature: base64url of its 64 bytes.
//!
//! Verification is `verify_strict`: it also refuses the weak keys and non-canonical
//! signatures that let a second, different signature of the same statement be made.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::Signer as _;
use pyk_protocol::api::Signature;
use pyk_protocol::statement::{Statement, Unwritable, VersionStatement};

/// The prefix of a public key's text form.
pub const PUBLIC_PREFIX: &str = "pyk-ed25519:";
/// The prefix of a private key's text form.
pub const SECRET_PREFIX: &str = "pyk-ed25519-secret:";

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("not a pyk signing key (expected `{SECRET_PREFIX}` and 43 characters of base64url)")]
    BadSecret,
    #[error(
        "{0:?} is not a pyk public key (expected `{PUBLIC_PREFIX}` and 43 characters of base64url)"
    )]
    BadPublic(String),
    #[error("the system's random source failed")]
    Random(#[source] getrandom::Error),
    #[error("the signature does not match (wrong key, or changed contents)")]
    Mismatch,
    #[error("cannot sign or check a statement")]
    Unwritable(#[from] Unwritable),
}

/// A publisher's private key.
pub struct SigningKey(ed25519_dalek::SigningKey);

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret.
        write!(f, "SigningKey({})", self.public())
    }
}

impl SigningKey {
    /// A fresh key from the system's random source.
    pub fn generate() -> Result<SigningKey, SignError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(SignError::Random)?;
        Ok(SigningKey(ed25519_dalek::SigningKey::from_bytes(&seed)))
    }

    /// Reads the text form (surrounding whitespace ignored).
    pub fn parse(text: &str) -> Result<SigningKey, SignError> {
        let seed = text
            .trim()
            .strip_prefix(SECRET_PREFIX)
            .and_then(|b| URL_SAFE_NO_PAD.decode(b).ok())
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or(SignError::BadSecret)?;
        Ok(SigningKey(ed25519_dalek::SigningKey::from_bytes(&seed)))
    }

    /// The text form, for the key file.
    pub fn to_text(&self) -> String {
        format!(
            "{SECRET_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(self.0.to_bytes())
        )
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// Signs a statement's canonical text.
    pub fn sign(&self, statement: &impl Statement) -> Result<Signature, SignError> {
        let text = statement.text()?;
        Ok(Signature {
            key: self.public().to_string(),
            sig: URL_SAFE_NO_PAD.encode(self.0.sign(text.as_bytes()).to_bytes()),
        })
    }
}

/// A public key: what clients trust and signatures name.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(ed25519_dalek::VerifyingKey);

impl PublicKey {
    pub fn parse(text: &str) -> Result<PublicKey, SignError> {
        let bad = || SignError::BadPublic(text.to_owned());
        let bytes = text
            .trim()
            .strip_prefix(PUBLIC_PREFIX)
            .and_then(|b| URL_SAFE_NO_PAD.decode(b).ok())
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(bad)?;
        ed25519_dalek::VerifyingKey::from_bytes(&bytes)
            .map(PublicKey)
            .map_err(|_| bad())
    }

    /// Whether `signature` is this key's signature of `statement`.
    pub fn verify(&self, statement: &impl Statement, signature: &str) -> Result<(), SignError> {
        let text = statement.text()?;
        let bytes = URL_SAFE_NO_PAD
            .decode(signature)
            .ok()
            .and_then(|b| <[u8; 64]>::try_from(b).ok())
            .ok_or(SignError::Mismatch)?;
        let sig = ed25519_dalek::Signature::from_bytes(&bytes);
        self.0
            .verify_strict(text.as_bytes(), &sig)
            .map_err(|_| SignError::Mismatch)
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{PUBLIC_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(self.0.to_bytes())
        )
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

/// Checks that `signature` is valid for the key it names, whoever that is: what the
/// server checks before storing one. Returns that key.
pub fn check(statement: &impl Statement, signature: &Signature) -> Result<PublicKey, SignError> {
    let key = PublicKey::parse(&signature.key)?;
    key.verify(statement, &signature.sig)?;
    Ok(key)
}

impl PublicKey {
    /// Whether `signature` is this key's signature of the version statement, as version
    /// 2 writes it or, for a version signed before (which claims no signed local name),
    /// as version 1 did.
    pub fn verify_version(
        &self,
        statement: &VersionStatement,
        signature: &str,
    ) -> Result<(), SignError> {
        match (self.verify(statement, signature), statement.v1()) {
            (Err(SignError::Mismatch), Some(v1)) => self.verify(&v1, signature),
            (result, _) => result,
        }
    }
}

/// [`check`] for a version statement, of either version (see
/// [`PublicKey::verify_version`]).
pub fn check_version(
    statement: &VersionStatement,
    signature: &Signature,
) -> Result<PublicKey, SignError> {
    let key = PublicKey::parse(&signature.key)?;
    key.verify_version(statement, &signature.sig)?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pyk_protocol::statement::LatestStatement;
    use pyk_protocol::Kind;

    fn latest(version: &str) -> LatestStatement<'_> {
        LatestStatement {
            kind: Kind::Run,
            name: "foo",
            version,
            issued: 5,
        }
    }

    #[test]
    fn sign_verify_and_text_forms() {
        let key = SigningKey::generate().unwrap();
        let again = SigningKey::parse(&format!("{}\n", key.to_text())).unwrap();
        assert_eq!(again.public(), key.public());
        let public = PublicKey::parse(&key.public().to_string()).unwrap();
        assert_eq!(public.to_string().len(), PUBLIC_PREFIX.len() + 43);
        assert!(!format!("{key:?}").contains(&key.to_text()));

        let sig = key.sign(&latest("2")).unwrap();
        assert_eq!(sig.key, public.to_string());
        assert_eq!(check(&latest("2"), &sig).unwrap(), public);
        assert!(matches!(
            check(&latest("1"), &sig),
            Err(SignError::Mismatch)
        ));
        let other = SigningKey::generate().unwrap().public();
        assert!(other.verify(&latest("2"), &sig.sig).is_err());
        assert!(PublicKey::parse("pyk-ed25519:short").is_err());
        assert!(SigningKey::parse(&public.to_string()).is_err());
    }
}
