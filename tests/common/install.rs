//! Installing pyk from a repository as a new machine would: `install.sh` fetched with curl
//! and run by `sh` (dash on Debian), into a directory of the test's, with a home of its
//! own. Kept apart so other setups (a Debian 11 root) can run the same installer.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The shell pipeline a user types: `curl -fsSL SERVER/install.sh | sh -s -- ARGS`.
pub fn pipeline(server: &str, args: &str) -> String {
    format!("curl -fsSL {server}/install.sh | sh -s -- {args}")
}

/// A fresh machine's user: a home with nothing in it.
pub struct Machine {
    pub home: tempfile::TempDir,
}

impl Machine {
    pub fn new() -> Machine {
        Machine {
            home: tempfile::tempdir().unwrap(),
        }
    }

    /// Where the tests install pyk.
    pub fn bin(&self) -> PathBuf {
        self.home.path().join("bin")
    }

    pub fn pyk(&self) -> PathBuf {
        self.bin().join("pyk")
    }

    /// The config install.sh writes.
    pub fn config(&self) -> PathBuf {
        self.home.path().join(".config/pyk/config.toml")
    }

    /// A command in this user's environment (and none of the test's pyk settings).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .env("HOME", self.home.path())
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("PYK_CACHE_DIR", self.home.path().join("cache"));
        cmd
    }

    /// `sh -c PIPELINE` installing from `server` into [`Machine::bin`].
    pub fn install(&self, server: &str) -> Command {
        let mut cmd = self.command("sh");
        cmd.arg("-c")
            .arg(pipeline(server, &format!("--dir {}", self.bin().display())));
        cmd
    }

    /// Runs the installed pyk.
    pub fn installed(&self) -> Command {
        self.command(self.pyk())
    }
}

/// The sha256 of a file, hex.
pub fn sha256_of(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}
