//! What a build resolved, as a PEP 751 `pylock.toml`: every installed distribution with its
//! version and the hash of the file it came from. The artifact carries it (see the trailer's
//! `lock`), and `pyk inspect` prints it.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Deserialize;

/// uv's lock as the artifact keeps it: no comment lines (they may name build-host paths).
pub fn normalize(text: &str) -> String {
    let mut out: String = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .skip_while(|l| l.trim().is_empty())
        .map(|l| format!("{l}\n"))
        .collect();
    if out.is_empty() {
        out.push_str("lock-version = \"1.0\"\n");
    }
    out
}

#[derive(Deserialize)]
struct Report {
    #[serde(default)]
    install: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    metadata: Metadata,
    download_info: DownloadInfo,
}

#[derive(Deserialize)]
struct Metadata {
    name: String,
    version: String,
}

#[derive(Deserialize)]
struct DownloadInfo {
    url: String,
    #[serde(default)]
    archive_info: Option<ArchiveInfo>,
}

#[derive(Deserialize)]
struct ArchiveInfo {
    /// `sha256=<hex>` (older pip); `hashes` is the newer form.
    #[serde(default)]
    hash: Option<String>,
    #[serde(default)]
    hashes: std::collections::BTreeMap<String, String>,
}

/// A `pylock.toml` from pip's installation report (`pip install --report`).
pub fn from_pip_report(path: &Path) -> Result<String> {
    let text =
        fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let report: Report = serde_json::from_str(&text).context("pip wrote an unreadable --report")?;
    let mut items = report.install;
    items.sort_by(|a, b| {
        a.metadata
            .name
            .to_lowercase()
            .cmp(&b.metadata.name.to_lowercase())
    });
    let q = |s: &str| toml::Value::String(s.to_owned()).to_string();
    let mut out = String::from("lock-version = \"1.0\"\ncreated-by = \"pip\"\n");
    for item in items {
        let sha256 = item.download_info.archive_info.and_then(|a| {
            a.hashes.get("sha256").cloned().or_else(|| {
                a.hash
                    .and_then(|h| h.strip_prefix("sha256=").map(str::to_owned))
            })
        });
        let hashes = sha256.map_or_else(String::new, |h| {
            format!(", hashes = {{ sha256 = {} }}", q(&h))
        });
        let url = &item.download_info.url;
        let kind = if url.ends_with(".whl") {
            "wheels = ["
        } else {
            "sdist = "
        };
        let close = if url.ends_with(".whl") { "]" } else { "" };
        out.push_str(&format!(
            "\n[[packages]]\nname = {}\nversion = {}\n{kind}{{ url = {}{hashes} }}{close}\n",
            q(&item.metadata.name.to_lowercase()),
            q(&item.metadata.version),
            q(url)
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pip_reports_become_pylock_toml() {
        let dir = tempfile::tempdir().unwrap();
        let report = dir.path().join("r.json");
        fs::write(
            &report,
            r#"{"install": [
              {"metadata": {"name": "Six", "version": "1.16.0"},
               "download_info": {"url": "https://x/six-1.16.0-py2.py3-none-any.whl",
                                 "archive_info": {"hash": "sha256=ab", "hashes": {"sha256": "ab"}}}},
              {"metadata": {"name": "attrs", "version": "23.1"},
               "download_info": {"url": "https://x/attrs-23.1.tar.gz", "archive_info": {"hash": "sha256=cd"}}}
            ]}"#,
        )
        .unwrap();
        let lock = from_pip_report(&report).unwrap();
        let parsed: toml::Table = toml::from_str(&lock).unwrap();
        let packages = parsed["packages"].as_array().unwrap();
        assert_eq!(packages[0]["name"].as_str(), Some("attrs"));
        assert_eq!(
            packages[0]["sdist"]["hashes"]["sha256"].as_str(),
            Some("cd")
        );
        assert_eq!(
            packages[1]["wheels"][0]["hashes"]["sha256"].as_str(),
            Some("ab")
        );
        assert_eq!(
            normalize("# made by uv\n\nlock-version = \"1.0\"\n"),
            "lock-version = \"1.0\"\n"
        );
    }
}
