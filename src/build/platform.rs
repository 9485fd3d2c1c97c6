//! The machine an artifact is built for (`pyk build --platform`): its name as pyk and
//! python-build-standalone spell it (`linux-aarch64`), uv's target triple for its wheels, and
//! the launcher built for it.

use anyhow::{bail, Result};

use crate::stub_bin;

/// A Linux glibc machine pyk builds artifacts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    X86_64,
    Aarch64,
}

impl Platform {
    /// This machine.
    pub fn host() -> Platform {
        match std::env::consts::ARCH {
            "aarch64" => Platform::Aarch64,
            _ => Platform::X86_64,
        }
    }

    /// `linux-x86_64` or `linux-aarch64` (`--platform`); `None` is this machine.
    pub fn parse(name: Option<&str>) -> Result<Platform> {
        match name {
            None => Ok(Platform::host()),
            Some("linux-x86_64") => Ok(Platform::X86_64),
            Some("linux-aarch64") => Ok(Platform::Aarch64),
            Some(other) => bail!(
                "--platform {other:?}: pyk builds for linux-x86_64 and linux-aarch64 (`uname -s`-`uname -m`, lower case)"
            ),
        }
    }

    /// `uname -m`, as runtime layers record their interpreter's machine.
    pub fn arch(self) -> &'static str {
        match self {
            Platform::X86_64 => "x86_64",
            Platform::Aarch64 => "aarch64",
        }
    }

    /// Debian's name for the architecture (`dpkg --add-architecture`).
    fn debian_arch(self) -> &'static str {
        match self {
            Platform::X86_64 => "amd64",
            Platform::Aarch64 => "arm64",
        }
    }

    pub fn name(self) -> String {
        format!("linux-{}", self.arch())
    }

    /// uv's `--python-platform` (manylinux_2_17 wheels for the machine), and the triple
    /// python-build-standalone names its builds for it with.
    pub fn triple(self) -> &'static str {
        match self {
            Platform::X86_64 => "x86_64-unknown-linux-gnu",
            Platform::Aarch64 => "aarch64-unknown-linux-gnu",
        }
    }

    /// Another machine than this one.
    pub fn foreign(self) -> bool {
        self != Platform::host()
    }

    /// The launcher every artifact for this machine starts with.
    pub fn stub(self) -> Result<&'static [u8]> {
        if !self.foreign() {
            return Ok(stub_bin::STUB);
        }
        match stub_bin::OTHER_STUB {
            Some(stub) => Ok(stub),
            None => bail!(
                "this pyk has no launcher for {}: it is built into pyk when pyk is built where a Rust standard library and linker for {} are at hand (on Debian: `dpkg --add-architecture {} && apt-get install rustc-web libstd-rust-web-dev:{} gcc-{}-linux-gnu`, with cargo-zigbuild on PATH or {}-linux-gnu-gcc as the linker), then `cargo build` again",
                self.name(),
                self.triple(),
                self.debian_arch(),
                self.debian_arch(),
                self.arch().replace('_', "-"),
                self.arch()
            ),
        }
    }
}
