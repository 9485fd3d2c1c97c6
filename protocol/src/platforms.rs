//! Versions with an artifact per platform (`pyk publish --platform linux-x86_64 --platform
//! linux-aarch64`): which artifact a machine runs, and the shape every such version has.
//!
//! A version's `blobs` list every blob it stores once (a pure-Python app layer both
//! platforms share is one blob), so a repository stores, counts and collects them as it
//! does any version's. Its `platforms` say which of those blobs, in order, make each
//! platform's artifact. A manifest without `platforms` is one artifact for
//! [`LINUX_X86_64`]: every version published before platforms were recorded, and every
//! linux-x86_64-only version since (so older clients still read those).
//!
//! A library with no native code is published once, for [`ANY`]: an importing Python
//! brings its own interpreter, so its app and dependency layers run everywhere.

use serde::{Deserialize, Serialize};

use crate::api::{BlobRef, Manifest, FORMAT_PYK};
use crate::dist::valid_platform;
use crate::statement::PlatformLine;

/// The platform of a manifest that names none.
pub const LINUX_X86_64: &str = "linux-x86_64";
/// The platform of a library with no native code: every machine imports it.
pub const ANY: &str = "any";
/// The most platforms one version has.
pub const MAX_PLATFORMS: usize = 16;

/// One platform's artifact in a version with several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformArtifact {
    /// `linux-x86_64`, `linux-aarch64` (`uname -s`-`uname -m`, lower case), or [`ANY`].
    pub platform: String,
    /// The sha256 of the whole artifact file, as `pyk pull` writes it.
    pub artifact_sha256: String,
    pub size: u64,
    /// Its blobs' sha256, in order (`[stub][each layer][pylock.toml + trailer]`), each one
    /// of the version's `blobs`.
    pub blobs: Vec<String>,
}

impl PlatformArtifact {
    pub fn line(&self) -> PlatformLine<'_> {
        PlatformLine {
            platform: &self.platform,
            artifact_sha256: &self.artifact_sha256,
            size: self.size,
            blobs: self.blobs.iter().map(String::as_str).collect(),
        }
    }
}

/// A version without an artifact for this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoPlatform {
    /// The platform asked for.
    pub platform: String,
    /// The platforms the version has.
    pub has: Vec<String>,
}

impl std::fmt::Display for NoPlatform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "is built for {} only, not for {}",
            self.has.join(", "),
            self.platform
        )
    }
}

impl std::error::Error for NoPlatform {}

/// Why a version's platforms do not fit its blobs: what [`check`] refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Misfit {
    Count,
    Name(String),
    Twice(String),
    Digest(String),
    /// A platform lists a blob the version does not.
    Unlisted(String),
    /// The version lists a blob no platform uses, or one twice.
    Unused(String),
    Size {
        platform: String,
        size: u64,
        sum: u64,
    },
    /// The version's `artifact_sha256` is not its first platform's.
    First,
    /// A pushed file has no platforms.
    NotAnArtifact,
}

impl std::fmt::Display for Misfit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Misfit::Count => write!(f, "a version has 1 to {MAX_PLATFORMS} platforms"),
            Misfit::Name(p) => write!(
                f,
                "platform {p:?} is not a name like linux-x86_64 (lower case, digits, - and _) or {ANY:?}"
            ),
            Misfit::Twice(p) => write!(f, "platform {p} is listed twice"),
            Misfit::Digest(p) => write!(
                f,
                "platform {p} has a digest that is not 64 lowercase hex digits"
            ),
            Misfit::Unlisted(b) => write!(f, "a platform's blob {b} is not among the version's blobs"),
            Misfit::Unused(b) => write!(
                f,
                "blob {b} is listed twice, or is no platform's (a version with platforms lists each of its blobs once)"
            ),
            Misfit::Size { platform, size, sum } => write!(
                f,
                "platform {platform} has size {size} but its blobs add up to {sum}"
            ),
            Misfit::First => write!(f, "artifact_sha256 must be the first platform's"),
            Misfit::NotAnArtifact => write!(f, "only a pyk artifact has platforms"),
        }
    }
}

impl std::error::Error for Misfit {}

/// Checks that `platforms` fit `blobs` (a version's, or a publish request's): one rule
/// for the repository that accepts them and the client that reads them.
pub fn check(
    format: &str,
    artifact_sha256: &str,
    blobs: &[BlobRef],
    platforms: &[PlatformArtifact],
) -> Result<(), Misfit> {
    if platforms.is_empty() {
        return Ok(());
    }
    if format != FORMAT_PYK {
        return Err(Misfit::NotAnArtifact);
    }
    if platforms.len() > MAX_PLATFORMS {
        return Err(Misfit::Count);
    }
    let size_of: std::collections::HashMap<&str, u64> =
        blobs.iter().map(|b| (b.sha256.as_str(), b.size)).collect();
    if let Some(b) = blobs
        .iter()
        .enumerate()
        .find(|(i, b)| blobs[..*i].iter().any(|a| a.sha256 == b.sha256))
    {
        return Err(Misfit::Unused(b.1.sha256.clone()));
    }
    let mut used = std::collections::HashSet::new();
    for (i, p) in platforms.iter().enumerate() {
        if !(p.platform == ANY || valid_platform(&p.platform)) {
            return Err(Misfit::Name(p.platform.clone()));
        }
        if platforms[..i].iter().any(|q| q.platform == p.platform) {
            return Err(Misfit::Twice(p.platform.clone()));
        }
        if p.artifact_sha256.parse::<crate::Sha256>().is_err() || p.blobs.is_empty() {
            return Err(Misfit::Digest(p.platform.clone()));
        }
        let mut sum = 0u64;
        for blob in &p.blobs {
            let size = size_of
                .get(blob.as_str())
                .ok_or_else(|| Misfit::Unlisted(blob.clone()))?;
            sum = sum.saturating_add(*size);
            used.insert(blob.as_str());
        }
        if sum != p.size {
            return Err(Misfit::Size {
                platform: p.platform.clone(),
                size: p.size,
                sum,
            });
        }
    }
    if let Some(b) = blobs.iter().find(|b| !used.contains(b.sha256.as_str())) {
        return Err(Misfit::Unused(b.sha256.clone()));
    }
    if platforms[0].artifact_sha256 != artifact_sha256 {
        return Err(Misfit::First);
    }
    Ok(())
}

impl Manifest {
    /// The platforms this version has an artifact for; none for a pushed file, which is
    /// the same bytes everywhere.
    pub fn platform_names(&self) -> Vec<&str> {
        if self.format != FORMAT_PYK {
            return Vec::new();
        }
        match self.platforms.is_empty() {
            true => vec![LINUX_X86_64],
            false => self.platforms.iter().map(|p| p.platform.as_str()).collect(),
        }
    }

    /// This version as the one artifact `platform` runs (its own, else, for a library,
    /// [`ANY`]'s): a manifest whose `blobs`, `size` and `artifact_sha256` are that
    /// artifact's, and whose `platforms` name it alone. Its statement is not the signed
    /// one: check the whole manifest first.
    pub fn for_platform(&self, platform: &str) -> Result<Manifest, NoPlatform> {
        let offered = self.platform_names();
        if offered.is_empty() {
            return Ok(self.clone());
        }
        let missing = || NoPlatform {
            platform: platform.to_owned(),
            has: offered.iter().map(|p| (*p).to_owned()).collect(),
        };
        if self.platforms.is_empty() {
            return match platform == LINUX_X86_64 {
                true => Ok(self.clone()),
                false => Err(missing()),
            };
        }
        let chosen = self
            .platforms
            .iter()
            .find(|p| p.platform == platform)
            .or_else(|| {
                let library = self.kind == crate::Kind::Lib;
                self.platforms.iter().find(|p| library && p.platform == ANY)
            })
            .ok_or_else(missing)?;
        let blobs = chosen
            .blobs
            .iter()
            .filter_map(|sha| self.blobs.iter().find(|b| &b.sha256 == sha).cloned())
            .collect();
        Ok(Manifest {
            artifact_sha256: chosen.artifact_sha256.clone(),
            size: chosen.size,
            blobs,
            platforms: vec![chosen.clone()],
            ..self.clone()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(c: char) -> String {
        c.to_string().repeat(64)
    }

    fn blob(c: char, size: u64) -> BlobRef {
        BlobRef {
            sha256: sha(c),
            size,
        }
    }

    fn artifact(platform: &str, of: &[char], blobs: &[BlobRef]) -> PlatformArtifact {
        PlatformArtifact {
            platform: platform.into(),
            artifact_sha256: sha(of[0]),
            size: of
                .iter()
                .map(|c| blobs.iter().find(|b| b.sha256 == sha(*c)).unwrap().size)
                .sum(),
            blobs: of.iter().map(|c| sha(*c)).collect(),
        }
    }

    /// x86_64 = [a, c, d], aarch64 = [b, c, e]: c (the app layer) shared.
    fn two() -> (Vec<BlobRef>, Vec<PlatformArtifact>) {
        let blobs = vec![
            blob('a', 1),
            blob('c', 2),
            blob('d', 3),
            blob('b', 4),
            blob('e', 5),
        ];
        let platforms = vec![
            artifact("linux-x86_64", &['a', 'c', 'd'], &blobs),
            artifact("linux-aarch64", &['b', 'c', 'e'], &blobs),
        ];
        (blobs, platforms)
    }

    #[test]
    fn platforms_must_fit_the_blobs() {
        let (blobs, platforms) = two();
        assert_eq!(check(FORMAT_PYK, &sha('a'), &blobs, &platforms), Ok(()));
        assert_eq!(check("file", &sha('a'), &blobs, &[]), Ok(()));
        assert_eq!(
            check("file", &sha('a'), &blobs, &platforms),
            Err(Misfit::NotAnArtifact)
        );
        assert_eq!(
            check(FORMAT_PYK, &sha('b'), &blobs, &platforms),
            Err(Misfit::First)
        );
        let mut p = platforms.clone();
        p[1].platform = "linux-x86_64".into();
        assert_eq!(
            check(FORMAT_PYK, &sha('a'), &blobs, &p),
            Err(Misfit::Twice("linux-x86_64".into()))
        );
        p[1].platform = "Linux arm".into();
        assert!(matches!(
            check(FORMAT_PYK, &sha('a'), &blobs, &p),
            Err(Misfit::Name(_))
        ));
        let mut p = platforms.clone();
        p[1].blobs[0] = sha('f');
        assert_eq!(
            check(FORMAT_PYK, &sha('a'), &blobs, &p),
            Err(Misfit::Unlisted(sha('f')))
        );
        let mut p = platforms.clone();
        p[1].size += 1;
        assert!(matches!(
            check(FORMAT_PYK, &sha('a'), &blobs, &p),
            Err(Misfit::Size { .. })
        ));
        // A blob no platform uses, and one listed twice.
        let mut b = blobs.clone();
        b.push(blob('f', 1));
        assert_eq!(
            check(FORMAT_PYK, &sha('a'), &b, &platforms),
            Err(Misfit::Unused(sha('f')))
        );
        let mut b = blobs.clone();
        b.push(blob('c', 2));
        assert_eq!(
            check(FORMAT_PYK, &sha('a'), &b, &platforms),
            Err(Misfit::Unused(sha('c')))
        );
        let mut p = platforms.clone();
        p[0].artifact_sha256 = "A".repeat(64);
        assert!(matches!(
            check(FORMAT_PYK, &"A".repeat(64), &blobs, &p),
            Err(Misfit::Digest(_))
        ));
    }

    fn manifest(blobs: Vec<BlobRef>, platforms: Vec<PlatformArtifact>) -> Manifest {
        let mut m: Manifest = serde_json::from_value(serde_json::json!({
            "kind": "run", "name": "x", "version": "1", "published": 1, "publisher": "n",
            "artifact_sha256": sha('a'), "size": 15, "python": "3.11", "blobs": [],
        }))
        .unwrap();
        m.blobs = blobs;
        m.platforms = platforms;
        m
    }

    #[test]
    fn a_machine_gets_its_own_artifact_or_one_line_of_what_there_is() {
        let (blobs, platforms) = two();
        let m = manifest(blobs.clone(), platforms);
        let arm = m.for_platform("linux-aarch64").unwrap();
        assert_eq!(arm.blobs, [blob('b', 4), blob('c', 2), blob('e', 5)]);
        assert_eq!((arm.size, arm.artifact_sha256.as_str()), (11, &*sha('b')));
        assert_eq!(arm.platform_names(), ["linux-aarch64"]);
        // The view is a version of one artifact itself.
        assert_eq!(
            check(FORMAT_PYK, &arm.artifact_sha256, &arm.blobs, &arm.platforms),
            Ok(())
        );
        let e = m.for_platform("linux-riscv64").unwrap_err();
        assert_eq!(
            e.to_string(),
            "is built for linux-x86_64, linux-aarch64 only, not for linux-riscv64"
        );

        // No platforms: one linux-x86_64 artifact, as every version before them.
        let old = manifest(blobs.clone(), Vec::new());
        assert_eq!(old.platform_names(), [LINUX_X86_64]);
        assert_eq!(old.for_platform("linux-x86_64").unwrap(), old);
        assert!(old.for_platform("linux-aarch64").is_err());

        // A pure library: one artifact for any machine.
        let b = vec![blob('a', 1), blob('c', 2), blob('d', 3)];
        let mut any = manifest(b.clone(), vec![artifact(ANY, &['a', 'c', 'd'], &b)]);
        assert!(
            any.for_platform("linux-aarch64").is_err(),
            "a program needs its runtime"
        );
        any.kind = crate::Kind::Lib;
        assert_eq!(any.for_platform("linux-aarch64").unwrap().blobs, b);
    }
}
