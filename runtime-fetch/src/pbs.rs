//! python-build-standalone (PBS) runtimes: resolve a request to an `install_only_stripped`
//! asset, download it, verify it, and import it as a layer.
//!
//! URLs are `{base}/{tag}/cpython-{version}+{tag}-{triple}-install_only_stripped.tar.gz`.
//! `base` defaults to GitHub releases; a mirror (`PYK_PYTHON_MIRROR` or the config key, passed
//! in as `mirror`) must serve the same `{tag}/{file}` layout, plus `{tag}/SHA256SUMS` for
//! assets whose checksum is not pinned below.

use std::path::Path;

use crate::error::IoContext;
use crate::store::Layer;
use crate::{archive, download, FetchError, LayerStore, Progress, PyVersion, PythonRequest};

pub const DEFAULT_BASE_URL: &str =
    "https://github.com/astral-sh/python-build-standalone/releases/download";

/// The pinned PBS release.
pub const PINNED_RELEASE: &str = "20241008";

/// One CPython of the pinned release: full version and the sha256 of its
/// `install_only_stripped` asset for x86_64 and aarch64 Linux (glibc), where known.
struct Pinned {
    version: PyVersion,
    x86_64: Option<&'static str>,
    aarch64: Option<&'static str>,
}

const fn v(minor: u8, patch: u8) -> PyVersion {
    PyVersion {
        major: 3,
        minor,
        patch,
    }
}

/// Checksums are from uv's `crates/uv-python/download-metadata.json`, whose newest stored copy
/// lists 20241008 for 3.12 and 3.13 only; the other minors of this release are verified against
/// the release's SHA256SUMS. 3.14 did not exist yet: use `PYK_PBS_RELEASE` and a full version.
const PINNED: &[Pinned] = &[
    Pinned {
        version: v(9, 20),
        x86_64: None,
        aarch64: None,
    },
    Pinned {
        version: v(10, 15),
        x86_64: None,
        aarch64: None,
    },
    Pinned {
        version: v(11, 10),
        x86_64: None,
        aarch64: None,
    },
    Pinned {
        version: v(12, 7),
        x86_64: Some("11091cd2eb8b7f4551665ba8f9f5b83aa3d09fc0e17f1649d76d5f4f75254bf8"),
        aarch64: Some("e254373827bde6b389ed17b8bb8aa8ac7b3659cf56d36e084a53ed1d04a02210"),
    },
    Pinned {
        version: v(13, 0),
        x86_64: Some("aa876c2660a802d0df8ef46f9c4b1c952e63c65d16e103663c22b9468dad40b7"),
        aarch64: Some("1bfc058821199c4313ae67bb6c105df2c9dd3515bca955ff96724976acf64462"),
    },
];

/// A resolved PBS asset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PbsAsset {
    pub release: String,
    pub version: PyVersion,
    pub triple: &'static str,
    pub file: String,
    pub url: String,
    pub sha256: Option<&'static str>,
}

impl PbsAsset {
    /// The layer source description, also used to find an already-fetched layer.
    pub fn source(&self) -> String {
        format!(
            "python-build-standalone {} cpython-{} {}",
            self.release, self.version, self.triple
        )
    }
}

/// The target triple of this machine, if PBS builds it.
pub fn host_triple() -> Result<&'static str, FetchError> {
    match (std::env::consts::ARCH, std::env::consts::OS) {
        ("x86_64", "linux") => Ok("x86_64-unknown-linux-gnu"),
        ("aarch64", "linux") => Ok("aarch64-unknown-linux-gnu"),
        (arch, os) => Err(FetchError::UnsupportedPlatform {
            arch: arch.to_string(),
            os: os.to_string(),
        }),
    }
}

/// Resolve a request to an asset of `release` (default: the pinned one) under `mirror`.
/// Outside the pinned release the request must name a full version, and the checksum comes
/// from SHA256SUMS.
pub fn resolve(
    req: &PythonRequest,
    mirror: Option<&str>,
    release: Option<&str>,
    triple: &'static str,
) -> Result<PbsAsset, FetchError> {
    let release = release.unwrap_or(PINNED_RELEASE).trim();
    let unknown = |hint: String| FetchError::UnknownVersion {
        request: req.to_string(),
        release: release.to_string(),
        hint,
    };
    let (version, sha256) = if release == PINNED_RELEASE {
        let pinned = PINNED
            .iter()
            .find(|p| p.version.minor == req.minor && req.major == 3)
            .ok_or_else(|| {
                unknown(format!(
                    "it has {}; set PYK_PBS_RELEASE to a newer release and ask for a full version",
                    PINNED
                        .iter()
                        .map(|p| p.version.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
        if !req.matches(&pinned.version) {
            return Err(unknown(format!(
                "it has {}; set PYK_PBS_RELEASE to the release that has {req}",
                pinned.version
            )));
        }
        let sha = match triple {
            "x86_64-unknown-linux-gnu" => pinned.x86_64,
            "aarch64-unknown-linux-gnu" => pinned.aarch64,
            _ => None,
        };
        (pinned.version, sha)
    } else {
        let patch = req.patch.ok_or_else(|| {
            unknown("outside the pinned release, give a full version like 3.12.4".into())
        })?;
        (
            PyVersion {
                major: req.major,
                minor: req.minor,
                patch,
            },
            None,
        )
    };
    let base = mirror
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .unwrap_or(DEFAULT_BASE_URL)
        .trim_end_matches('/');
    let file = format!("cpython-{version}+{release}-{triple}-install_only_stripped.tar.gz");
    let url = format!("{base}/{release}/{}", file.replace('+', "%2B"));
    Ok(PbsAsset {
        release: release.to_string(),
        version,
        triple,
        file,
        url,
        sha256,
    })
}

/// The checksum of `file` in a SHA256SUMS text (`<hex>  <name>` or `<hex> *<name>` lines).
pub fn checksum_from_sums(sums: &str, file: &str) -> Option<String> {
    sums.lines().find_map(|line| {
        let (hex, name) = line.trim().split_once(char::is_whitespace)?;
        let name = name.trim_start().trim_start_matches('*');
        (name == file && hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| hex.to_ascii_lowercase())
    })
}

/// Fetch a PBS runtime for `req` from the pinned release, or the one named by the
/// `PYK_PBS_RELEASE` environment variable.
///
/// `mirror` replaces the GitHub releases base URL and must serve the same layout:
/// `{mirror}/{tag}/{asset file}`, and `{mirror}/{tag}/SHA256SUMS` for assets without a pinned
/// checksum.
pub fn fetch_pbs(
    store: &LayerStore,
    req: &PythonRequest,
    mirror: Option<&str>,
    progress: &Progress,
) -> Result<Layer, FetchError> {
    let release = std::env::var("PYK_PBS_RELEASE").ok();
    fetch_pbs_release(store, req, mirror, release.as_deref(), progress)
}

/// [`fetch_pbs`] with an explicit release tag (`None`: the pinned one). Reuses a layer already
/// built from the same asset. The download is verified before anything is unpacked; on a
/// mismatch nothing is left in the cache.
pub fn fetch_pbs_release(
    store: &LayerStore,
    req: &PythonRequest,
    mirror: Option<&str>,
    release: Option<&str>,
    progress: &Progress,
) -> Result<Layer, FetchError> {
    let asset = resolve(req, mirror, release, host_triple()?)?;
    let source = asset.source();
    if let Some(layer) = store.list()?.into_iter().find(|l| l.source == source) {
        progress.step(&format!("using cached {source}"));
        return Ok(layer);
    }
    // The asset first: a version the release lacks is then a 404 naming that file.
    progress.step(&format!("downloading {}", asset.url));
    let scratch = store.scratch_dir()?;
    let path = scratch.path().join(&asset.file);
    let mut file = std::fs::File::create(&path).ctx(|| format!("create {}", path.display()))?;
    let actual = download::fetch_to_file(&asset.url, &mut file, progress)?;
    drop(file);
    let expected = match asset.sha256 {
        Some(sha) => sha.to_string(),
        None => {
            let sums_url = match asset.url.rsplit_once('/') {
                Some((dir, _)) => format!("{dir}/SHA256SUMS"),
                None => format!("{}/SHA256SUMS", asset.url),
            };
            let sums = download::fetch_text(&sums_url)?;
            checksum_from_sums(&sums, &asset.file).ok_or(FetchError::ChecksumUnavailable {
                url: sums_url,
                file: asset.file.clone(),
            })?
        }
    };
    if actual != expected {
        return Err(FetchError::ChecksumMismatch {
            url: asset.url,
            expected,
            actual,
        });
    }
    archive::import_archive_as(store, Path::new(&path), &source, progress)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_pinned_and_custom_releases() {
        let req: PythonRequest = "3.12".parse().unwrap();
        let a = resolve(&req, None, None, "x86_64-unknown-linux-gnu").unwrap();
        assert_eq!(a.version.to_string(), "3.12.7");
        assert_eq!(a.url, "https://github.com/astral-sh/python-build-standalone/releases/download/20241008/cpython-3.12.7%2B20241008-x86_64-unknown-linux-gnu-install_only_stripped.tar.gz");
        assert!(a.sha256.is_some());

        let req: PythonRequest = "3.11.2".parse().unwrap();
        let a = resolve(
            &req,
            Some("http://m/x/"),
            Some("20990101"),
            "x86_64-unknown-linux-gnu",
        )
        .unwrap();
        assert_eq!(a.url, "http://m/x/20990101/cpython-3.11.2%2B20990101-x86_64-unknown-linux-gnu-install_only_stripped.tar.gz");
        assert_eq!(a.sha256, None);

        let err = resolve(
            &"3.12.1".parse().unwrap(),
            None,
            None,
            "x86_64-unknown-linux-gnu",
        );
        assert!(err.unwrap_err().to_string().contains("3.12.7"));
        let err = resolve(
            &"3.14".parse().unwrap(),
            None,
            None,
            "x86_64-unknown-linux-gnu",
        );
        assert!(err.unwrap_err().to_string().contains("PYK_PBS_RELEASE"));
        let err = resolve(
            &"3.12".parse().unwrap(),
            None,
            Some("20990101"),
            "x86_64-unknown-linux-gnu",
        );
        assert!(err.unwrap_err().to_string().contains("full version"));
    }

    #[test]
    fn parses_sha256sums() {
        let h = "ab".repeat(32);
        let sums = format!("{h}  a.tar.gz\n{}  *b.tar.gz\n", "CD".repeat(32));
        assert_eq!(checksum_from_sums(&sums, "a.tar.gz"), Some(h));
        assert_eq!(checksum_from_sums(&sums, "b.tar.gz"), Some("cd".repeat(32)));
        assert_eq!(checksum_from_sums(&sums, "c.tar.gz"), None);
    }
}
