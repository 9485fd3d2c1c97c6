//! What both ends of pyk agree on, defined once: the client, the server, the artifact
//! format and the launcher all take these from here rather than spelling them again.
//!
//! - [`digest`]: the one sha256 type, its lowercase hex, hashing readers and writers.
//! - [`Kind`] and [`names`]: the two package namespaces and the rules for package names,
//!   version strings and local file names, which become URLs and file names.
//! - [`api`]: the JSON bodies of the repository protocol and the manifest ETag.
//! - [`statement`]: the canonical text publishers sign (versions and `latest` moves).
//! - [`platforms`]: versions with an artifact per platform, and which one a machine runs.
//! - [`request`]: the canonical string a request token signs.
//! - [`dist`]: how a repository hands out pyk itself (install.sh, self update).
//!
//! Only serde and sha2 sit beneath it, and serde only with the `serde` feature (on by
//! default), which the launcher goes without.

#[cfg(feature = "serde")]
pub mod api;
pub mod digest;
pub mod dist;
mod kind;
pub mod names;
#[cfg(feature = "serde")]
pub mod platforms;
pub mod progress;
pub mod request;
pub mod statement;

pub use digest::Sha256;
pub use kind::{Kind, ParseKindError};
pub use names::{valid_localname, valid_name, valid_version, Invalid, PackageRef};
