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
            .and_then(|v| {
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
                Some(DirectUrl {
                    url,
                    sha256,
                    is_dir,
                })
            });
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

/// Fails, naming every distribution at once, if any installed file is a compiled
/// extension module.
pub fn refuse_native(roots: &[&Path], dists: &[Dist]) -> Result<()> {
    let mut owners: BTreeMap<PathBuf, &Dist> = BTreeMap::new();
    for dist in dists {
        for file in dist.files()? {
            owners.insert(dist.root().join(file), dist);
        }
    }
    let mut native: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for root in roots {
        let mut files = Vec::new();
        find_native(root, &mut files)?;
        for file in files {
            let owner = owners.get(&file).map_or_else(
                || "files no RECORD lists".to_owned(),
                |d| format!("{} {}", d.name, d.version),
            );
            let shown = file
                .strip_prefix(root)
                .unwrap_or(&file)
                .display()
                .to_string();
            native.entry(owner).or_default().push(shown);
        }
    }
    if native.is_empty() {
        return Ok(());
    }
    let listed: Vec<String> = native
        .iter()
        .map(|(owner, files)| match &files[..] {
            [one] => format!("{owner} ({one})"),
            [first, rest @ ..] => format!("{owner} ({first} and {} more)", rest.len()),
            [] => unreachable!("grouped files"),
        })
        .collect();
    bail!(
        "{} contain{} compiled extension modules, and pyk packs pure-Python dependencies only for now: {}",
        if native.len() == 1 { "1 distribution".to_owned() } else { format!("{} distributions", native.len()) },
        if native.len() == 1 { "s" } else { "" },
        listed.join("; ")
    )
}

fn find_native(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(());
    };
    let mut entries: Vec<_> = entries.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            find_native(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "so" || e == "pyd") {
            out.push(path);
        }
    }
    Ok(())
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
    fn every_native_distribution_is_named() {
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
        fs::write(d.join("stray.so"), "").unwrap();
        let dists = read(d, &|n| n == "pure").unwrap();
        assert_eq!(dists.iter().filter(|d| d.own).count(), 1);
        let e = refuse_native(&[d], &dists).unwrap_err().to_string();
        assert!(
            e.starts_with("3 distributions contain compiled extension modules")
                && e.contains("alpha 1.0 (alpha/_a.cpython-311-x86_64-linux-gnu.so and 1 more)")
                && e.contains("beta 1.0 (beta/_c.so)")
                && e.contains("files no RECORD lists (stray.so)")
                && !e.contains('\n'),
            "{e}"
        );
    }
}
