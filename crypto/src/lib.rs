//! Access to a pyk repository is one shared secret: whoever has the key can read (and,
//! with the write key, publish); whoever hasn't gets nothing.
//!
//! - [`key`]: a Fernet key from a passphrase (`base64url(sha256(passphrase))`, as the
//!   original pyk) or given raw.
//! - [`token`]: short-lived request tokens bound to one method and path.
//! - [`blob`]: the streaming encrypted format package blobs travel and rest in.

pub mod blob;
pub mod key;
pub mod token;

pub use key::Key;
