//! `pyk info NAME|FILE [MODULE[.NAME]]`: a package's modules, functions, classes and
//! signatures, from the tree `pyk build` recorded. For a published package it is read
//! from the repository (the manifest names the tree's blob): nothing of the package is
//! downloaded or run. Offline, the cached copy's tree is used.

pub mod layer;
pub mod tree;

use std::fs::File;
use std::path::Path;

use anyhow::{bail, Context, Result};
use pyk_artifact::install;
use pyk_artifact::trailer::{Role, Trailer};
use pyk_cache::Cache;
use pyk_client::{Answer, Packages};
use pyk_protocol::api::Manifest;
use pyk_protocol::{Kind, PackageRef};

use crate::config::Config;
use crate::output::Progress;
use crate::repo;
use tree::{Api, FILE};

pub use layer::read_app_file;

/// What `pyk info` was asked.
pub struct Query<'a> {
    /// A package name (`foo`, `foo@1.2`) or an artifact file.
    pub what: &'a str,
    pub kind: Kind,
    /// `MODULE[.NAME]`.
    pub select: Option<&'a str>,
    pub json: bool,
}

pub fn info(query: &Query, config: &Config, cache: &Cache, progress: &Progress) -> Result<()> {
    let path = Path::new(query.what);
    let (title, api) = if crate::cli::names_a_file(query.what) {
        let trailer = read_trailer(path)?;
        let api = from_artifact(path)?.with_context(|| {
            format!(
                "{} has no API tree (built by an older pyk): rebuild it",
                path.display()
            )
        })?;
        let title = format!(
            "{} {} ({}, Python {}.{})",
            trailer.kind.as_str(),
            trailer.name,
            path.display(),
            trailer.python.0,
            trailer.python.1
        );
        (title, api)
    } else {
        let (manifest, api) = published(query, config, cache, progress)?;
        let title = format!(
            "{} {} {} (Python {})",
            manifest.kind, manifest.name, manifest.version, manifest.python
        );
        (title, api)
    };
    print(&title, &api, query)
}

fn print(title: &str, api: &Api, query: &Query) -> Result<()> {
    let Some(select) = query.select else {
        if query.json {
            return emit(&format!("{}\n", serde_json::to_string_pretty(api)?));
        }
        return emit(&format!("{title}\n\n{}", api.render()));
    };
    let Some(found) = api.select(select) else {
        let modules: Vec<&str> = api.modules.iter().map(|m| m.name.as_str()).collect();
        bail!(
            "{}",
            escape_controls(&format!(
                "{title} has no module or public name {select} (its modules: {})",
                if modules.is_empty() {
                    "none".to_owned()
                } else {
                    modules.join(", ")
                }
            ))
        );
    };
    match query.json {
        true => emit(&format!("{}\n", found.json()?)),
        false => emit(&found.render()),
    }
}

/// Prints `text` with its control characters escaped; a reader that stops early (`| head`)
/// is not an error.
fn emit(text: &str) -> Result<()> {
    let text = escape_controls(text);
    match std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// `text` with every control character but newline and tab (and every bidirectional
/// override) written as `\u001b`: the tree
/// holds a package's docstrings, and an ESC or OSC sequence in one must not reach the
/// terminal (to move the cursor, retitle the window, hide text). The same escape is
/// JSON's, so `--json` output (where serde escaped C0 already, but not DEL or C1) stays
/// valid.
fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    // And the bidirectional overrides that make text read other than it is.
    let bidi = |c: char| matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    let unsafe_char = |c: char| (c.is_control() && c != '\n' && c != '\t') || bidi(c);
    if !text.chars().any(unsafe_char) {
        return text.into();
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            c if !unsafe_char(c) => out.push(c),
            c => out.push_str(&format!("\\u{:04x}", u32::from(c))),
        }
    }
    out.into()
}

/// The tree recorded in an artifact's app layer, if it has one.
pub fn from_artifact(path: &Path) -> Result<Option<Api>> {
    let Some(bytes) = read_app_file(path, FILE)? else {
        return Ok(None);
    };
    let api = serde_json::from_slice(&bytes)
        .with_context(|| format!("{}: the API tree is not valid", path.display()))?;
    Ok(Some(api))
}

/// The manifest of the package (latest, or `foo@VERSION`) and its tree, from the
/// repository; offline, from the cached copy.
fn published(
    query: &Query,
    config: &Config,
    cache: &Cache,
    progress: &Progress,
) -> Result<(Manifest, Api)> {
    let (name, version) = match query.what.split_once('@') {
        Some((name, version)) => (name, Some(version)),
        None => (query.what, None),
    };
    let package = PackageRef::new(query.kind, name)?;
    let trust = config.trust(cache.root())?;
    let packages = Packages::new(cache);
    let client = repo::client(config)?;
    let answer = match version {
        Some(v) => client.version(&package, v, None),
        None => client.current(&package, None),
    };
    let manifest = match answer {
        Ok(Some(m)) => m,
        Ok(None) => bail!("the server answered 304 to a question pyk did not ask"),
        Err(e) if e.is_network() => {
            let Some(m) = packages.manifest(&package, version, &trust) else {
                return Err(anyhow::Error::from(e)
                    .context(format!("{package} has never been fetched on this machine")));
            };
            crate::output::warning!("{e}; showing the cached {name} version {}", m.version);
            // The tree's blob if an earlier `pyk info` kept it, else the one in the
            // version's unpacked app layer, else the one in its whole artifact.
            if let Some(path) = m.api.as_ref().and_then(|b| packages.blob(&b.sha256)) {
                let api = read_tree(&path, &m)?;
                return Ok((m, api));
            }
            let unpacked = packages
                .trailer(&m)
                .and_then(Result::ok)
                .and_then(|t| t.layer(Role::App).map(|app| app.key()))
                .and_then(|key| cache.hold(install::bucket(Role::App), &key))
                .map(|app| app.dir().join(FILE))
                .filter(|p| p.is_file());
            let api = match unpacked {
                Some(path) => read_tree(&path, &m)?,
                None => {
                    let whole = packages.blob(&m.artifact_sha256).with_context(|| {
                        format!("{package} has never been fetched on this machine")
                    })?;
                    from_artifact(&whole)?.with_context(|| no_tree(&m))?
                }
            };
            return Ok((m, api));
        }
        Err(e) => return Err(e.into()),
    };
    trust.verify(
        &manifest,
        if version.is_some() {
            Answer::Version
        } else {
            Answer::Latest
        },
    )?;
    let blob = manifest.api.as_ref().with_context(|| no_tree(&manifest))?;
    let sha256 = blob.sha256.parse().with_context(|| {
        format!(
            "{} sent a manifest with a malformed API tree blob",
            client.server()
        )
    })?;
    let path = match packages.blob(&blob.sha256) {
        Some(path) => path,
        None => client.download_blob(&sha256, blob.size, &packages.blobs_dir(), progress)?,
    };
    let api = read_tree(&path, &manifest)?;
    Ok((manifest, api))
}

/// The tree in a downloaded blob.
fn read_tree(path: &Path, m: &Manifest) -> Result<Api> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_slice(&bytes)
        .with_context(|| format!("the API tree of {} {} is not valid", m.name, m.version))
}

fn no_tree(m: &Manifest) -> String {
    format!(
        "{} {} version {} has no API tree (published by an older pyk, or a pushed file)",
        m.kind, m.name, m.version
    )
}

/// Reads the trailer of a built artifact (`pyk publish` reads it through here too).
pub fn read_trailer(path: &Path) -> Result<Trailer> {
    let file = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    Trailer::read(&file).with_context(|| path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::escape_controls;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape_controls("def f()\n\tdoc"), "def f()\n\tdoc");
        assert_eq!(
            escape_controls("a\x1b]0;owned\x07b\u{9b}31m\u{202e}c\x7f"),
            "a\\u001b]0;owned\\u0007b\\u009b31m\\u202ec\\u007f"
        );
    }
}
