//! Access to a pyk repository is a shared secret: whoever has the key can read (and,
//! with the write key, publish); whoever hasn't gets nothing. Trust in what a repository
//! serves is apart from access: publishers sign, and clients check against keys they
//! chose.
//!
//! - [`key`]: a Fernet key from a passphrase (`base64url(sha256(passphrase))`, as the
//!   original pyk) or given raw.
//! - [`token`]: single-use request tokens bound to the method, path, query and body.
//! - [`blob`]: the streaming encrypted format package blobs travel and rest in.
//! - [`sign`]: ed25519 publisher keys and the signatures of statements.

pub mod blob;
pub mod key;
pub mod sign;
pub mod token;

pub use key::Key;
