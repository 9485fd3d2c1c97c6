//! Installed distributions, read from their `.dist-info` directories.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::spec::normalize;

/// One installed distribution.
#[derive(Debug, Clone)]
pub struct Dist {
    /// `Name:` of its METADATA, as written.
    pub name: String,
    pub version: String,
    /// The project's own code (built from the project directory), not a third-party
    /// dependency.
    pub own: bool,
    /// Its `.dist-info` directory (absolute); its parent is the tree it is installed in.
    pub dist_info: PathBuf,
    /// The file it was installed from, where known (for the lock file).
    pub source: Option<Archive>,
    /// `Tag:` lines of its WHEEL file: which wheel it came from.
    pub(super) tags: Vec<String>,
    /// `url` of its direct_url.json (PEP 610), when it was installed from a URL or path.
    pub(super) direct_url: Option<DirectUrl>,
}

/// A file a distribution was installed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Archive {
    pub kind: ArchiveKind,
    /// Where it came from (an index's file URL, a `file://` path).
    pub url: String,
    /// Lowercase hex sha256 of the file, where known.
    pub sha256: Option<String>,
    pub size: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveKind {
    Wheel,
    /// Built into a wheel on this machine.
    Sdist,
    /// A local source tree (a `name @ file:///dir` requirement), built on this machine.
    Directory,
}

#[derive(Debug, Clone)]
pub(super) struct DirectUrl {
    pub url: String,
    pub sha256: Option<String>,
    /// A source tree rather than an archive (PEP 610 `dir_info`).
    pub is_dir: bool,
}

impl DirectUrl {
    /// Reads PEP 610's structure: `direct_url.json` of an installed distribution, and the
    /// `download_info` of pip's installation report, which has the same shape.
    pub fn parse(v: &serde_json::Value) -> Option<Self> {
        let url = v.get("url")?.as_str()?.to_owned();
        let info = v.get("archive_info");
        let sha256 = info
            .and_then(|a| a.pointer("/hashes/sha256"))
            .and_then(|h| h.as_str())
            .or_else(|| {
                info.and_then(|a| a.get("hash"))
                    .and_then(|h| h.as_str())
                    .and_then(|h| h.strip_prefix("sha256="))
            })
            .map(str::to_owned);
        let is_dir = v.get("dir_info").is_some();
        Some(Self {
            url,
            sha256,
            is_dir,
        })
    }
}

impl Dist {
    /// The directory it is installed in.
    pub fn root(&self) -> &Path {
        self.dist_info.parent().unwrap_or(Path::new("."))
    }

    /// The files it installed, relative to [`Dist::root`], as its RECORD lists them (what
    /// the build removed, such as console scripts, is no longer listed; nothing outside
    /// the tree is).
    pub fn files(&self) -> Result<Vec<PathBuf>> {
        let record = self.dist_info.join("RECORD");
        let text = fs::read_to_string(&record)
            .with_context(|| format!("cannot read {}", record.display()))?;
        Ok(text
            .lines()
            .filter_map(record_path)
            .map(PathBuf::from)
            .filter(|p| {
                p.components()
                    .all(|c| matches!(c, std::path::Component::Normal(_)))
            })
            .collect())
    }
}

/// The path of a RECORD line (its first CSV field).
pub(super) fn record_path(line: &str) -> Option<String> {
    let path = match line.strip_prefix('"') {
        Some(quoted) => {
            let mut out = String::new();
            let mut chars = quoted.chars().peekable();
            while let Some(c) = chars.next() {
                match (c, chars.peek()) {
                    ('"', Some('"')) => {
                        out.push('"');
                        chars.next();
                    }
                    ('"', _) => break,
                    (c, _) => out.push(c),
                }
            }
            out
        }
        None => line.split(',').next()?.to_owned(),
    };
    Some(path).filter(|p| !p.is_empty())
}

/// The distributions installed in `dir`; `own` says which names are the project's.
pub fn read(dir: &Path, own: &dyn Fn(&str) -> bool) -> Result<Vec<Dist>> {
    let mut dists = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(dists);
    };
    let mut infos: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "dist-info") && p.is_dir())
        .collect();
    infos.sort();
    for info in infos {
        let metadata = fs::read_to_string(info.join("METADATA"))
            .with_context(|| format!("cannot read {}/METADATA", info.display()))?;
        let header = |key: &str| {
            metadata
                .lines()
                .take_while(|l| !l.is_empty())
                .find_map(|l| l.strip_prefix(key))
                .map(|v| v.trim().to_owned())
        };
        let (Some(name), Some(version)) = (header("Name:"), header("Version:")) else {
            bail!("{} has no Name or Version", info.join("METADATA").display());
        };
        let tags = fs::read_to_string(info.join("WHEEL"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.strip_prefix("Tag:"))
            .map(|t| t.trim().to_owned())
            .collect();
        let direct_url = fs::read_to_string(info.join("direct_url.json"))
            .ok()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            .as_ref()
            .and_then(DirectUrl::parse);
        dists.push(Dist {
            own: own(&name),
            name,
            version,
            dist_info: info,
            source: None,
            tags,
            direct_url,
        });
    }
    Ok(dists)
}

/// Distributions keyed by normalized name.
pub fn by_name(dists: &mut [Dist]) -> BTreeMap<String, &mut Dist> {
    dists.iter_mut().map(|d| (normalize(&d.name), d)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_paths() {
        assert_eq!(record_path("a/b.py,sha256=x,3").unwrap(), "a/b.py");
        assert_eq!(record_path("\"a,\"\"b\"\".py\",,").unwrap(), "a,\"b\".py");
        assert!(record_path("").is_none());
    }

    #[test]
    fn reads_every_distribution_and_marks_the_projects_own() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for (name, files) in [
            (
                "alpha",
                &["alpha/_a.cpython-311-x86_64-linux-gnu.so", "alpha/_b.so"][..],
            ),
            ("beta", &["beta/_c.so"][..]),
            ("pure", &["pure/__init__.py"][..]),
        ] {
            let info = d.join(format!("{name}-1.0.dist-info"));
            fs::create_dir_all(&info).unwrap();
            fs::write(
                info.join("METADATA"),
                format!("Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n\nbody\n"),
            )
            .unwrap();
            let mut record = String::new();
            for f in files {
                fs::create_dir_all(d.join(f).parent().unwrap()).unwrap();
                fs::write(d.join(f), "").unwrap();
                record.push_str(&format!("{f},,\n"));
            }
            fs::write(info.join("RECORD"), record).unwrap();
        }
        let dists = read(d, &|n| n == "pure").unwrap();
        let names: Vec<_> = dists.iter().map(|d| (d.name.as_str(), d.own)).collect();
        assert_eq!(names, [("alpha", false), ("beta", false), ("pure", true)]);
        assert_eq!(dists[0].files().unwrap().len(), 2);
    }
}
