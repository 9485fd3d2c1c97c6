//! How a repository hands out pyk itself: the only routes that need no token, so that a
//! machine with nothing on it can install pyk (`curl -fsSL SERVER/install.sh | sh`) and
//! a client can replace itself (`pyk self update`).
//!
//! ```text
//! GET /install.sh                  the installer (POSIX sh), the server's address filled in
//! GET /pyk/                        the platforms served, one a line
//! GET /pyk/<platform>              the binary
//! GET /pyk/<platform>.sha256       "<64 hex>  pyk-<platform>\n" (sha256sum's format)
//! GET /pyk/<platform>.sig          the publisher's signature, when there is one (see below)
//! ```
//!
//! A platform is `uname -s`, lower-cased, and `uname -m`: `linux-x86_64`,
//! `linux-aarch64`. A signature file is the JSON of [`SignedClient`]: the version and the
//! signature of a [`ClientStatement`](crate::statement::ClientStatement) over the
//! platform, that version and the binary's sha256. Servers serve it as it is; clients
//! check it against the keys they trust.

/// The installer's path.
pub const INSTALL_SH: &str = "/install.sh";
/// Where the binaries are, by platform.
pub const PREFIX: &str = "/pyk/";

/// This build's platform, as `uname` names it (`linux-x86_64`).
pub fn platform() -> String {
    format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH)
}

/// A platform name that can be part of a path and a file name: `[a-z0-9_-]`, not empty.
pub fn valid_platform(platform: &str) -> bool {
    !platform.is_empty()
        && platform.len() <= 64
        && platform
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// The file name of a platform's binary in a server's clients directory.
pub fn binary_name(platform: &str) -> String {
    format!("pyk-{platform}")
}

/// The file name of its signature there.
pub fn signature_name(platform: &str) -> String {
    format!("pyk-{platform}.sig")
}

/// A signature file (`pyk-<platform>.sig`).
#[cfg(feature = "serde")]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SignedClient {
    /// The version the binary reports (`pyk --version`'s first word after `pyk`).
    pub version: String,
    pub signature: crate::api::Signature,
}
