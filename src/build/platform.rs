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

    /// What pyk builds for, for messages.
    pub const NAMES: &str = "linux-x86_64 and linux-aarch64 (`uname -s`-`uname -m`, lower case)";

    pub fn from_name(name: &str) -> Option<Platform> {
        match name {
            "linux-x86_64" => Some(Platform::X86_64),
            "linux-aarch64" => Some(Platform::Aarch64),
            _ => None,
        }
    }

    /// `linux-x86_64` or `linux-aarch64` (`--platform`); `None` is this machine.
    pub fn parse(name: Option<&str>) -> Result<Platform> {
        match name {
            None => Ok(Platform::host()),
            Some(name) => match Platform::from_name(name) {
                Some(platform) => Ok(platform),
                None => bail!("--platform {name:?}: pyk builds for {}", Platform::NAMES),
            },
        }
    }

    /// The `--platform` options (several for `pyk publish`), else the spec's `platforms`,
    /// else this machine; each once, in the order given.
    pub fn parse_all(names: &[String], spec: &[Platform]) -> Result<Vec<Platform>> {
        let mut all: Vec<Platform> = match names.is_empty() {
            true if spec.is_empty() => vec![Platform::host()],
            true => spec.to_vec(),
            false => names
                .iter()
                .map(|n| Platform::parse(Some(n)))
                .collect::<Result<_>>()?,
        };
        let mut seen = Vec::new();
        all.retain(|p| {
            let first = !seen.contains(p);
            seen.push(*p);
            first
        });
        Ok(all)
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
