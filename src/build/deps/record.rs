//! Which file each installed distribution came from (URL, sha256, size), for the lock file
//! the artifact records.
//!
//! pip says so itself in its installation report (`--report`). uv has no report: its own
//! resolver is asked again for the exact pins (`uv pip compile --no-deps --format
//! pylock.toml`, the same indexes and options, the same interpreter, from uv's cache when it
//! can), and of the files it lists the wheel whose tags are the installed WHEEL's is the one
//! installed. A distribution built from an sdist records that sdist.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use super::command;
use super::dists::{by_name, Archive, ArchiveKind, DirectUrl, Dist};
use super::Request;
use crate::spec::normalize;

/// pip's installation report: fills in every third-party distribution it lists.
pub fn from_pip_report(report: &Path, dists: &mut [Dist]) -> Result<()> {
    let text = fs::read_to_string(report)
        .with_context(|| format!("cannot read pip's report {}", report.display()))?;
    let report: serde_json::Value =
        serde_json::from_str(&text).context("pip's report is not JSON")?;
    let mut dists = by_name(dists);
    for item in report["install"].as_array().into_iter().flatten() {
        let Some(name) = item.pointer("/metadata/name").and_then(|n| n.as_str()) else {
            continue;
        };
        // The project's own wheel was built in a temporary directory: no file to record.
        let Some(dist) = dists.get_mut(&normalize(name)).filter(|d| !d.own) else {
            continue;
        };
        let Some(download) = item.get("download_info").and_then(DirectUrl::parse) else {
            continue;
        };
        dist.source = Some(Archive {
            kind: kind_of(&download.url, download.is_dir),
            url: download.url,
            sha256: download.sha256,
            size: None,
        });
    }
    Ok(())
}

/// uv: distributions installed from a direct URL keep it; the others are looked up by pin.
pub fn from_uv(uv: &OsString, req: &Request, scratch: &Path, dists: &mut [Dist]) -> Result<()> {
    let mut pins = String::new();
    for dist in dists.iter_mut().filter(|d| !d.own) {
        match &dist.direct_url {
            Some(direct) => {
                dist.source = Some(Archive {
                    kind: kind_of(&direct.url, direct.is_dir),
                    url: direct.url.clone(),
                    sha256: direct.sha256.clone(),
                    size: None,
                })
            }
            None => pins.push_str(&format!("{}=={}\n", dist.name, dist.version)),
        }
    }
    if pins.is_empty() {
        return Ok(());
    }
    let pins_file = scratch.join("pins.txt");
    fs::write(&pins_file, pins)?;
    let lock_file = scratch.join("pylock.toml");
    let mut out = command::lock_pins(uv, req, &pins_file, &lock_file, true)
        .output()
        .context("cannot run uv")?;
    if !out.status.success() {
        out = command::lock_pins(uv, req, &pins_file, &lock_file, false)
            .output()
            .context("cannot run uv")?;
    }
    if !out.status.success() {
        bail!("{}", String::from_utf8_lossy(&out.stderr).trim());
    }
    let lock: Lock = toml::from_str(&fs::read_to_string(&lock_file)?)
        .context("uv wrote a pylock.toml pyk cannot read")?;
    let mut dists = by_name(dists);
    for package in lock.packages {
        let Some(dist) = dists.get_mut(&normalize(&package.name)) else {
            continue;
        };
        if dist.source.is_some() || package.version.as_deref() != Some(dist.version.as_str()) {
            continue;
        }
        let installed: BTreeSet<String> = dist.tags.iter().cloned().collect();
        let wheel = package
            .wheels
            .iter()
            .find(|w| wheel_tags(&w.location(scratch)).as_ref() == Some(&installed));
        dist.source = match (wheel, &package.sdist) {
            (Some(w), _) => Some(w.archive(ArchiveKind::Wheel, scratch)),
            (None, Some(s)) => Some(s.archive(ArchiveKind::Sdist, scratch)),
            (None, None) => None,
        };
    }
    Ok(())
}

fn kind_of(url: &str, is_dir: bool) -> ArchiveKind {
    if is_dir {
        ArchiveKind::Directory
    } else if url.ends_with(".whl") {
        ArchiveKind::Wheel
    } else {
        ArchiveKind::Sdist
    }
}

/// The tag set a wheel file name stands for (`py2.py3-none-any` is two tags).
fn wheel_tags(location: &str) -> Option<BTreeSet<String>> {
    let file = location.rsplit('/').next()?.strip_suffix(".whl")?;
    let parts: Vec<&str> = file.split('-').collect();
    let [.., py, abi, platform] = parts[..] else {
        return None;
    };
    let mut set = BTreeSet::new();
    for p in py.split('.') {
        for a in abi.split('.') {
            for pl in platform.split('.') {
                set.insert(format!("{p}-{a}-{pl}"));
            }
        }
    }
    Some(set)
}

/// The fields of PEP 751 that say where a file is.
#[derive(Deserialize)]
struct Lock {
    #[serde(default)]
    packages: Vec<Package>,
}

#[derive(Deserialize)]
struct Package {
    name: String,
    version: Option<String>,
    #[serde(default)]
    wheels: Vec<File>,
    sdist: Option<File>,
}

#[derive(Deserialize)]
struct File {
    url: Option<String>,
    path: Option<String>,
    size: Option<u64>,
    #[serde(default)]
    hashes: std::collections::BTreeMap<String, String>,
}

impl File {
    /// Its URL, or for a local file (a path relative to the lock file) a `file://` URL.
    fn location(&self, lock_dir: &Path) -> String {
        match (&self.url, &self.path) {
            (Some(url), _) => url.clone(),
            (None, Some(path)) => {
                let full = lock_dir.join(path);
                let full = full.canonicalize().unwrap_or(full);
                url::Url::from_file_path(&full)
                    .map(String::from)
                    .unwrap_or_else(|()| full.display().to_string())
            }
            (None, None) => String::new(),
        }
    }

    fn archive(&self, kind: ArchiveKind, lock_dir: &Path) -> Archive {
        Archive {
            kind,
            url: self.location(lock_dir),
            sha256: self.hashes.get("sha256").cloned(),
            size: self.size,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wheel_names_expand_to_tag_sets() {
        let t = wheel_tags("https://x/six-1.16.0-py2.py3-none-any.whl").unwrap();
        assert_eq!(
            t.into_iter().collect::<Vec<_>>(),
            ["py2-none-any", "py3-none-any"]
        );
        let t =
            wheel_tags("numpy-2.1.3-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl")
                .unwrap();
        assert!(t.contains("cp311-cp311-manylinux2014_x86_64") && t.len() == 2);
        assert!(wheel_tags("six-1.16.0.tar.gz").is_none());
    }
}
